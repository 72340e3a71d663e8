// The strategy contract shared by the signal processor, the strategies route and the backtester.
//
// A strategy instance is a pure state machine over FINAL candles: next(candle, indicatorValues?)
// returns a side, a strength in 0..1 and the reasons. Indicator values come from the
// IndicatorValues event for that candle where it has them (so a restarted processor is right at
// once), and otherwise from the instance's own IndicatorSet, which every candle feeds. So the same
// instance runs on a live stream and on a plain candle sequence (backtests).
import type { Candle, SignalSide } from '../../schemas/generated/events.ts';
import { EMPTY_INDICATOR_CONFIG, IndicatorSet, latestFinalPerOpenTime, type IndicatorSetConfig } from '../indicators/indicator-set.ts';

export interface StrategyDecision {
  side: SignalSide;
  /** 0..1; 0 for HOLD. */
  strength: number;
  reasons: string[];
}

export type StrategyParamSpec =
  | { name: string; type: 'integer' | 'number'; default: number; min: number; max: number; description: string }
  | { name: string; type: 'enum'; default: string; options: readonly string[]; description: string };

export type StrategyParamValue = number | string;
/** As given by a user or config: numbers may arrive as numeric strings. */
export type StrategyParamsInput = Readonly<Record<string, StrategyParamValue | undefined>>;
export type ResolvedStrategyParams = Readonly<Record<string, StrategyParamValue>>;

export interface StrategyInstance {
  readonly name: string;
  readonly params: ResolvedStrategyParams;
  /** Decision at the close of a final candle; HOLD with a reason for in-progress or old candles. */
  next(candle: Candle, indicatorValues?: Readonly<Record<string, number>>): StrategyDecision;
  /** Feeds history without producing decisions (after a restart, before a backtest window). */
  warmUp(candles: readonly Candle[]): void;
}

export interface StrategyDefinition {
  readonly name: string;
  readonly description: string;
  readonly params: readonly StrategyParamSpec[];
  /** Throws StrategyParamError for unknown or out-of-range params. */
  create(params?: StrategyParamsInput): StrategyInstance;
}

export class StrategyParamError extends Error {
  override readonly name = 'StrategyParamError';
}

/** Fills defaults and validates against the specs; the error names the strategy, param and range. */
export function resolveStrategyParams(
  strategy: string,
  specs: readonly StrategyParamSpec[],
  input: StrategyParamsInput = {},
): Record<string, StrategyParamValue> {
  const known = new Set(specs.map((s) => s.name));
  for (const key of Object.keys(input)) {
    if (!known.has(key)) {
      throw new StrategyParamError(`${strategy}: unknown param "${key}"; known: ${[...known].join(', ') || '(none)'}`);
    }
  }
  const out: Record<string, StrategyParamValue> = {};
  for (const spec of specs) {
    const given = input[spec.name];
    if (given === undefined) {
      out[spec.name] = spec.default;
      continue;
    }
    if (spec.type === 'enum') {
      if (typeof given !== 'string' || !spec.options.includes(given)) {
        throw new StrategyParamError(`${strategy}: param "${spec.name}" must be one of ${spec.options.join(', ')}, got ${JSON.stringify(given)}`);
      }
      out[spec.name] = given;
      continue;
    }
    const n = typeof given === 'number' ? given : given.trim() === '' ? Number.NaN : Number(given);
    const kind = spec.type === 'integer' ? 'an integer' : 'a number';
    if (!Number.isFinite(n) || (spec.type === 'integer' && !Number.isInteger(n)) || n < spec.min || n > spec.max) {
      throw new StrategyParamError(`${strategy}: param "${spec.name}" must be ${kind} in [${spec.min}, ${spec.max}], got ${JSON.stringify(given)}`);
    }
    out[spec.name] = n;
  }
  return out;
}

export function numberParam(params: ResolvedStrategyParams, name: string): number {
  const v = params[name];
  if (typeof v !== 'number') throw new StrategyParamError(`param "${name}" is not a number`);
  return v;
}

export function stringParam(params: ResolvedStrategyParams, name: string): string {
  const v = params[name];
  if (typeof v !== 'string') throw new StrategyParamError(`param "${name}" is not a string`);
  return v;
}

/**
 * The indicator values one strategy needs: its own IndicatorSet (only the indicators it asked
 * for), overridden by the event's values for the same names where the event has them.
 */
export class StrategyIndicatorFeed {
  private readonly set: IndicatorSet;

  constructor(config: Partial<IndicatorSetConfig>) {
    this.set = new IndicatorSet({ ...EMPTY_INDICATOR_CONFIG, ...config });
  }

  /** null when the candle was not applied (in-progress, or not newer than the last one). */
  read(candle: Candle, provided?: Readonly<Record<string, number>>): Record<string, number> | null {
    const own = this.set.update(candle);
    if (own === null) return null;
    if (provided) {
      for (const name of this.set.names) {
        const v = provided[name];
        if (v !== undefined && Number.isFinite(v)) own[name] = v;
      }
    }
    return own;
  }
}

export function hold(...reasons: string[]): StrategyDecision {
  return { side: 'HOLD', strength: 0, reasons };
}

export function clampStrength(x: number): number {
  if (!Number.isFinite(x)) return 0;
  return Math.min(1, Math.max(0, x));
}

/** Formats a number for a reason string: short and stable. */
export function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toPrecision(6).replace(/\.?0+$/, '');
}

/** Builds a StrategyInstance from a per-candle step function; handles warmUp and non-applied candles. */
export function strategyInstance(
  name: string,
  params: ResolvedStrategyParams,
  feed: StrategyIndicatorFeed,
  step: (candle: Candle, values: Record<string, number>) => StrategyDecision,
): StrategyInstance {
  const next = (candle: Candle, indicatorValues?: Readonly<Record<string, number>>): StrategyDecision => {
    const values = feed.read(candle, indicatorValues);
    if (values === null) return hold('not a new final candle');
    return step(candle, values);
  };
  return {
    name,
    params,
    next,
    warmUp(candles) {
      for (const c of latestFinalPerOpenTime(candles)) next(c);
    },
  };
}

/**
 * Tracks which side of zero a series is on, with an optional dead band: inside [-band, band] the
 * previous side holds, so noise around the line does not flip it on every candle.
 */
export class CrossDetector {
  private side: 'above' | 'below' | 'inside' | null = null;

  /** 'up' / 'down' when the side changes, 'none' when it does not, 'first' on the first value. */
  observe(x: number, band = 0): 'up' | 'down' | 'none' | 'first' {
    const prev = this.side;
    const next = x > band ? 'above' : x < -band ? 'below' : (prev ?? 'inside');
    this.side = next;
    if (prev === null) return 'first';
    if (prev === next) return 'none';
    return next === 'above' ? 'up' : 'down';
  }
}
