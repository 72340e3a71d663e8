// The strategy registry: every strategy the signal processor, the strategies route and the
// backtester know, by name. Adding a strategy is adding a file under strategies/ and a line here.
import { bollingerBreakout } from './strategies/bollinger-breakout.ts';
import { compositeVote } from './strategies/composite-vote.ts';
import { macdCrossover } from './strategies/macd-crossover.ts';
import { maCrossover } from './strategies/ma-crossover.ts';
import { rsiMeanReversion } from './strategies/rsi-mean-reversion.ts';
import {
  StrategyParamError, type StrategyDefinition, type StrategyInstance, type StrategyParamSpec, type StrategyParamsInput,
} from './strategy.ts';

export const STRATEGIES: readonly StrategyDefinition[] = [maCrossover, rsiMeanReversion, macdCrossover, bollingerBreakout, compositeVote];

const byName = new Map(STRATEGIES.map((s) => [s.name, s]));

export function getStrategy(name: string): StrategyDefinition | undefined {
  return byName.get(name);
}

/** Throws StrategyParamError for an unknown strategy or bad params. */
export function createStrategy(name: string, params?: StrategyParamsInput): StrategyInstance {
  const def = byName.get(name);
  if (!def) throw new StrategyParamError(`unknown strategy "${name}"; known: ${STRATEGIES.map((s) => s.name).join(', ')}`);
  return def.create(params);
}

export interface StrategyDescription {
  name: string;
  description: string;
  params: StrategyParamSpec[];
}

/** What GET /api/v1/signals/strategies serves: plain JSON. */
export function strategyCatalogue(): StrategyDescription[] {
  return STRATEGIES.map((s) => ({ name: s.name, description: s.description, params: s.params.map((p) => ({ ...p })) }));
}
