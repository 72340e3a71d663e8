// Final Candles -> IndicatorValues, one IndicatorSet per (exchange, symbol, interval).
//
// Reads: analytics.candles.v1 (Candle). Writes: analytics.indicators.v1 (IndicatorValues).
// State: the IndicatorSets; not serializable (library generators), rebuilt with warmUp() from
// candle history after a restart.
//
// event_id: indicators:<exchange>:<symbol>:<interval>:<open_time>. One event per final candle;
// amendments (revision > 0) of an already-applied candle emit nothing, because a streaming
// indicator cannot be rewound, so the id needs no revision.
import type { Candle, IndicatorValues } from '../../schemas/generated/events.ts';
import { IndicatorSet, latestFinalPerOpenTime, resolveIndicatorConfig, type IndicatorSetConfig } from './indicator-set.ts';

export const INDICATOR_VALUES_EVENT_TYPE = 'indicator_values';
export const INDICATOR_VALUES_SCHEMA_VERSION = 1;

export interface IndicatorProcessorOptions {
  /** Applied to every market; merged over DEFAULT_INDICATOR_CONFIG. */
  config?: Partial<IndicatorSetConfig>;
  /** Clock for ingest_time. Default Date.now. */
  now?: () => number;
}

/** What a market's last emitted event held, so warmUp can anchor cumulative values (OBV). */
export type IndicatorAnchor = Pick<IndicatorValues, 'exchange' | 'symbol' | 'interval' | 'open_time' | 'values'>;

export class IndicatorProcessor {
  readonly config: IndicatorSetConfig;
  private readonly now: () => number;
  private readonly sets = new Map<string, IndicatorSet>();

  constructor(options: IndicatorProcessorOptions = {}) {
    this.config = resolveIndicatorConfig(options.config);
    this.now = options.now ?? Date.now;
  }

  get marketCount(): number {
    return this.sets.size;
  }

  /** The set of one market, if it has seen a candle. */
  indicatorSet(exchange: string, symbol: string, interval: string): IndicatorSet | undefined {
    return this.sets.get(marketKey(exchange, symbol, interval));
  }

  /** One IndicatorValues per new final candle; [] for in-progress, amended or replayed candles. */
  process(candle: Candle): IndicatorValues[] {
    if (!candle.is_final) return [];
    const values = this.setFor(candle).update(candle);
    if (values === null) return [];
    return [{
      event_id: `indicators:${candle.exchange}:${candle.symbol}:${candle.interval}:${candle.open_time}`,
      event_type: INDICATOR_VALUES_EVENT_TYPE,
      schema_version: INDICATOR_VALUES_SCHEMA_VERSION,
      event_time: candle.close_time,
      ingest_time: this.now(),
      exchange: candle.exchange,
      symbol: candle.symbol,
      interval: candle.interval,
      open_time: candle.open_time,
      close: candle.close,
      values,
    }];
  }

  /**
   * Rebuilds state from history (any markets, any order). Pass candles whose indicator values were
   * already emitted (e.g. up to the last open_time in the indicators table): process() then skips
   * them if the runner replays them, and computes everything after. `anchors` are the last emitted
   * values per market, used to continue OBV from its emitted level.
   */
  warmUp(candles: readonly Candle[], anchors: readonly IndicatorAnchor[] = []): void {
    const byMarket = new Map<string, Candle[]>();
    for (const c of candles) {
      const key = marketKey(c.exchange, c.symbol, c.interval);
      let list = byMarket.get(key);
      if (!list) byMarket.set(key, (list = []));
      list.push(c);
    }
    const anchorByMarket = new Map(anchors.map((a) => [marketKey(a.exchange, a.symbol, a.interval), a]));
    for (const [key, list] of byMarket) {
      const ordered = latestFinalPerOpenTime(list);
      const first = ordered[0];
      if (!first) continue;
      this.setFor(first).warmUp(ordered, anchorByMarket.get(key));
    }
  }

  private setFor(candle: Candle): IndicatorSet {
    const key = marketKey(candle.exchange, candle.symbol, candle.interval);
    let set = this.sets.get(key);
    if (!set) {
      set = new IndicatorSet(this.config);
      this.sets.set(key, set);
    }
    return set;
  }
}

function marketKey(exchange: string, symbol: string, interval: string): string {
  return `${exchange}\u0000${symbol}\u0000${interval}`;
}
