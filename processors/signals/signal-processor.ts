// Final Candles + IndicatorValues -> Signals, one instance of every configured strategy per
// (exchange, symbol, interval). A Signal is emitted for every strategy at every candle close,
// HOLD included, so the signals and summary routes read the current view of every market.
//
// Reads: analytics.candles.v1 and analytics.indicators.v1. Writes: analytics.signals.v1.
// State: the strategy instances (rebuilt with warmUp() from candle history after a restart), and
// at most a few candles / indicator events per market waiting for their partner.
//
// Join: a final candle waits for the IndicatorValues of the same market and open_time. If the
// next candle of that market arrives first, the waiting one is evaluated without them (the
// strategies compute their own indicators), so a missing indicator event delays but never blocks.
// Amendments (revision > 0) of an evaluated candle emit nothing: strategies cannot be rewound.
//
// event_id: signal:<strategy id>:<exchange>:<symbol>:<interval>:<open_time>.
import type { Candle, IndicatorValues, Signal } from '../../schemas/generated/events.ts';
import { latestFinalPerOpenTime } from '../indicators/indicator-set.ts';
import { STRATEGIES, createStrategy } from './strategy-registry.ts';
import { StrategyParamError, type StrategyInstance, type StrategyParamsInput } from './strategy.ts';

export const SIGNAL_EVENT_TYPE = 'signal';
export const SIGNAL_SCHEMA_VERSION = 1;

export type SignalProcessorInput =
  | { topic: 'candles'; value: Candle }
  | { topic: 'indicators'; value: IndicatorValues };

export interface SignalStrategyConfig {
  /** Registry name. */
  strategy: string;
  params?: StrategyParamsInput;
  /** Written as Signal.strategy; defaults to the strategy name. Must be unique. */
  id?: string;
}

export interface SignalProcessorOptions {
  /** Default: every registered strategy with its default params. */
  strategies?: readonly SignalStrategyConfig[];
  /** Clock for ingest_time. Default Date.now. */
  now?: () => number;
}

interface MarketState {
  instances: StrategyInstance[];
  /** Final candles not yet evaluated, ascending open time. */
  candles: Candle[];
  /** Indicator events that arrived before their candle, by open time. */
  values: Map<number, IndicatorValues>;
  lastEvaluated: number | null;
}

/** Indicator events kept per market while their candle has not arrived. */
const MAX_EARLY_VALUES = 8;

export class SignalProcessor {
  private readonly configs: ReadonlyArray<{ id: string; strategy: string; params: StrategyParamsInput }>;
  private readonly now: () => number;
  private readonly markets = new Map<string, MarketState>();

  /** Throws StrategyParamError for unknown strategies, bad params or duplicate ids. */
  constructor(options: SignalProcessorOptions = {}) {
    const given: readonly SignalStrategyConfig[] = options.strategies ?? STRATEGIES.map((s) => ({ strategy: s.name }));
    const configs = given.map((c) => ({
      id: c.id ?? c.strategy, strategy: c.strategy, params: c.params ?? {},
    }));
    const ids = new Set<string>();
    for (const c of configs) {
      if (ids.has(c.id)) throw new StrategyParamError(`signal processor: duplicate strategy id "${c.id}"; give each instance an id`);
      ids.add(c.id);
      createStrategy(c.strategy, c.params); // validate now, not on the first candle
    }
    this.configs = configs;
    this.now = options.now ?? Date.now;
  }

  get strategyIds(): string[] {
    return this.configs.map((c) => c.id);
  }

  process(input: SignalProcessorInput): Signal[] {
    return input.topic === 'candles' ? this.onCandle(input.value) : this.onValues(input.value);
  }

  /** Evaluates every waiting candle without its indicator event (e.g. before shutdown). */
  flush(): Signal[] {
    const out: Signal[] = [];
    for (const market of this.markets.values()) {
      for (const candle of market.candles.splice(0)) this.evaluate(market, candle, undefined, out);
    }
    return out;
  }

  /** Feeds history (any markets, any order) to the strategy instances without emitting signals. */
  warmUp(candles: readonly Candle[]): void {
    const byMarket = new Map<string, Candle[]>();
    for (const c of candles) {
      const key = marketKey(c);
      let list = byMarket.get(key);
      if (!list) byMarket.set(key, (list = []));
      list.push(c);
    }
    for (const list of byMarket.values()) {
      const ordered = latestFinalPerOpenTime(list);
      const last = ordered[ordered.length - 1];
      if (!last) continue;
      const market = this.market(last);
      for (const instance of market.instances) instance.warmUp(ordered);
      market.lastEvaluated = Math.max(market.lastEvaluated ?? Number.NEGATIVE_INFINITY, last.open_time);
    }
  }

  private onCandle(candle: Candle): Signal[] {
    if (!candle.is_final) return [];
    const market = this.market(candle);
    if (this.seen(market, candle.open_time) || market.candles.some((c) => c.open_time === candle.open_time)) return [];
    const out: Signal[] = [];
    this.evaluateOlderThan(market, candle.open_time, out);
    const values = market.values.get(candle.open_time);
    if (values) {
      market.values.delete(candle.open_time);
      this.evaluate(market, candle, values, out);
    } else {
      // Usually the newest; a gap filled late by the aggregator can be older than one waiting.
      const at = market.candles.findIndex((c) => c.open_time > candle.open_time);
      market.candles.splice(at < 0 ? market.candles.length : at, 0, candle);
    }
    return out;
  }

  private onValues(values: IndicatorValues): Signal[] {
    const market = this.market(values);
    if (this.seen(market, values.open_time)) return [];
    const index = market.candles.findIndex((c) => c.open_time === values.open_time);
    if (index < 0) {
      market.values.set(values.open_time, values);
      while (market.values.size > MAX_EARLY_VALUES) {
        const oldest = Math.min(...market.values.keys());
        market.values.delete(oldest);
      }
      return [];
    }
    const out: Signal[] = [];
    this.evaluateOlderThan(market, values.open_time, out);
    const candle = market.candles.shift()!;
    this.evaluate(market, candle, values, out);
    return out;
  }

  private seen(market: MarketState, openTime: number): boolean {
    return market.lastEvaluated !== null && openTime <= market.lastEvaluated;
  }

  private evaluateOlderThan(market: MarketState, openTime: number, out: Signal[]): void {
    while (market.candles.length > 0 && market.candles[0]!.open_time < openTime) {
      this.evaluate(market, market.candles.shift()!, undefined, out);
    }
  }

  private evaluate(market: MarketState, candle: Candle, values: IndicatorValues | undefined, out: Signal[]): void {
    market.lastEvaluated = candle.open_time;
    for (const key of [...market.values.keys()]) if (key <= candle.open_time) market.values.delete(key);
    const ingestTime = this.now();
    market.instances.forEach((instance, i) => {
      const id = this.configs[i]!.id;
      const decision = instance.next(candle, values?.values);
      out.push({
        event_id: `signal:${id}:${candle.exchange}:${candle.symbol}:${candle.interval}:${candle.open_time}`,
        event_type: SIGNAL_EVENT_TYPE,
        schema_version: SIGNAL_SCHEMA_VERSION,
        event_time: candle.close_time,
        ingest_time: ingestTime,
        exchange: candle.exchange,
        symbol: candle.symbol,
        interval: candle.interval,
        open_time: candle.open_time,
        strategy: id,
        side: decision.side,
        strength: decision.strength,
        price: candle.close,
        reasons: decision.reasons,
      });
    });
  }

  private market(ref: Pick<Candle, 'exchange' | 'symbol' | 'interval'>): MarketState {
    const key = marketKey(ref);
    let market = this.markets.get(key);
    if (!market) {
      market = {
        instances: this.configs.map((c) => createStrategy(c.strategy, c.params)),
        candles: [],
        values: new Map(),
        lastEvaluated: null,
      };
      this.markets.set(key, market);
    }
    return market;
  }
}

function marketKey(ref: Pick<Candle, 'exchange' | 'symbol' | 'interval'>): string {
  return `${ref.exchange}\u0000${ref.symbol}\u0000${ref.interval}`;
}
