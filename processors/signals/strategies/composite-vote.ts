// Composite vote: runs the other strategies with their defaults and takes the side at least
// `min_votes` of them agree on (and more than oppose it). Strength is the net agreeing strength
// over the number of members.
import {
  clampStrength, numberParam, resolveStrategyParams, type StrategyDecision, type StrategyDefinition,
  type StrategyInstance, type StrategyParamSpec,
} from '../strategy.ts';
import { bollingerBreakout } from './bollinger-breakout.ts';
import { macdCrossover } from './macd-crossover.ts';
import { maCrossover } from './ma-crossover.ts';
import { rsiMeanReversion } from './rsi-mean-reversion.ts';

export const COMPOSITE_MEMBERS: readonly StrategyDefinition[] = [maCrossover, rsiMeanReversion, macdCrossover, bollingerBreakout];

const params: readonly StrategyParamSpec[] = [
  { name: 'min_votes', type: 'integer', default: 2, min: 1, max: COMPOSITE_MEMBERS.length, description: 'Members that must agree on BUY or SELL.' },
];

export const compositeVote: StrategyDefinition = {
  name: 'composite_vote',
  description: `Composite vote of ${COMPOSITE_MEMBERS.map((m) => m.name).join(', ')} (default params): the side at least min_votes agree on.`,
  params,
  create(input) {
    const p = resolveStrategyParams('composite_vote', params, input);
    const minVotes = numberParam(p, 'min_votes');
    const members: StrategyInstance[] = COMPOSITE_MEMBERS.map((m) => m.create());

    const next: StrategyInstance['next'] = (candle, indicatorValues) => {
      const votes = members.map((m) => ({ name: m.name, decision: m.next(candle, indicatorValues) }));
      const side = (s: StrategyDecision['side']) => votes.filter((v) => v.decision.side === s);
      const buys = side('BUY');
      const sells = side('SELL');
      const sum = (list: typeof votes): number => list.reduce((acc, v) => acc + v.decision.strength, 0);
      const memberReasons = votes.flatMap((v) => v.decision.reasons.map((r) => `${v.name}: ${r}`));
      const tally = `${buys.length} BUY, ${sells.length} SELL of ${members.length}`;
      if (buys.length >= minVotes && buys.length > sells.length) {
        return { side: 'BUY', strength: clampStrength((sum(buys) - sum(sells)) / members.length), reasons: [tally, ...memberReasons] };
      }
      if (sells.length >= minVotes && sells.length > buys.length) {
        return { side: 'SELL', strength: clampStrength((sum(sells) - sum(buys)) / members.length), reasons: [tally, ...memberReasons] };
      }
      return { side: 'HOLD', strength: 0, reasons: [`${tally}; need ${minVotes}`, ...memberReasons] };
    };

    return {
      name: 'composite_vote',
      params: p,
      next,
      warmUp(candles) {
        for (const m of members) m.warmUp(candles);
      },
    };
  },
};
