// Ticks -> Candles, per exchange and across all exchanges ('*'), for every configured interval.
//
// Reads: market.ticks.v1 (Tick). Writes: analytics.candles.v1 (Candle).
// State: per (exchange, symbol, interval) the open buckets, the finalized buckets that can still be
// amended, and the event-time watermark. JSON-serializable via snapshot()/restore().
//
// Late-tick policy (event time):
// - A tick belongs to the bucket floor(event_time / interval) * interval (UTC-aligned).
// - A bucket is finalized once the market's watermark (max event_time seen, or a flush(watermarkMs))
//   reaches bucket end + allowedLatenessMs. Ticks until then just update the open bucket.
// - A tick for a finalized bucket with lateness (watermark - event_time) <= maxLatenessMs amends it:
//   a new final candle with revision + 1. If that bucket never had a candle (a gap), it gets a final
//   candle with revision 0. Later ticks are dropped and counted in `lateDropped`.
//
// event_id (deterministic, so a replay of the same partition produces the same ids):
//   final:        candle:<exchange>:<symbol>:<interval>:<open_time>:<revision>:f
//   in-progress:  candle:<exchange>:<symbol>:<interval>:<open_time>:<revision>:p<trades>
// In-progress updates carry the tick count so each distinct update is its own fact.
// The '*' candle depends on how ticks of different exchanges interleave, so it is deterministic only
// if the runner feeds them in the same order (one consumer for all of a symbol's exchanges).
import type { Candle, Tick } from '../../schemas/generated/events.ts';
import { INTERVALS, INTERVAL_MS, type Interval } from '../../schemas/topics.ts';

export const CANDLE_EVENT_TYPE = 'candle';
export const CANDLE_SCHEMA_VERSION = 1;
/** The exchange value of the all-exchange candle. */
export const ALL_EXCHANGES = '*';

export interface TickToCandleAggregatorOptions {
  /** Default: every interval in INTERVALS. */
  intervals?: readonly Interval[];
  /** Grace after a bucket's end before it is finalized. Default 2000. */
  allowedLatenessMs?: number;
  /** How far behind the watermark a tick may be and still amend a final candle. Default 300000. */
  maxLatenessMs?: number;
  /** Minimum event-time gap between in-progress updates of one candle; 0 = every tick. Default 1000. */
  updateEveryMs?: number;
  /** Also build the '*' candle per symbol. Default true. */
  allExchangeCandles?: boolean;
  /** Clock for ingest_time. Default Date.now. */
  now?: () => number;
}

interface BucketState {
  openTime: number;
  open: number;
  /** Event time of the tick that set `open` (earliest), so out-of-order ticks keep OHLC right. */
  openAt: number;
  high: number;
  low: number;
  close: number;
  /** Event time of the tick that set `close` (latest). */
  closeAt: number;
  volume: number;
  trades: number;
  revision: number;
  /** Event time of the last in-progress emission of this bucket. */
  lastUpdateAt: number | null;
}

interface MarketState {
  exchange: string;
  symbol: string;
  interval: Interval;
  watermark: number;
  /** Buckets not yet final, ascending open time. */
  open: BucketState[];
  /** Final buckets still within maxLatenessMs of the watermark (at least the last one), ascending. */
  final: BucketState[];
}

export interface CandleAggregatorCounters {
  /** Late ticks past maxLatenessMs, per market and interval they would have gone into. */
  lateDropped: number;
  /** Final candles re-emitted with a higher revision because of late ticks. */
  amended: number;
  /** Ticks ignored because price or volume was not a finite number (or volume negative). */
  rejected: number;
}

/** Everything needed to resume after a restart; plain JSON. */
export interface TickToCandleAggregatorState {
  version: 1;
  markets: MarketState[];
  counters: CandleAggregatorCounters;
}

export class TickToCandleAggregator {
  private readonly intervals: readonly Interval[];
  private readonly allowedLatenessMs: number;
  private readonly maxLatenessMs: number;
  private readonly updateEveryMs: number;
  private readonly allExchangeCandles: boolean;
  private readonly now: () => number;
  private readonly markets = new Map<string, MarketState>();
  private readonly counters: CandleAggregatorCounters = { lateDropped: 0, amended: 0, rejected: 0 };

  constructor(options: TickToCandleAggregatorOptions = {}) {
    this.intervals = options.intervals ?? INTERVALS;
    for (const interval of this.intervals) {
      if (!(INTERVALS as readonly string[]).includes(interval)) {
        throw new RangeError(`TickToCandleAggregator: unknown interval "${interval}"; known: ${INTERVALS.join(', ')}`);
      }
    }
    this.allowedLatenessMs = nonNegative('allowedLatenessMs', options.allowedLatenessMs ?? 2000);
    this.maxLatenessMs = nonNegative('maxLatenessMs', options.maxLatenessMs ?? 300_000);
    this.updateEveryMs = nonNegative('updateEveryMs', options.updateEveryMs ?? 1000);
    this.allExchangeCandles = options.allExchangeCandles ?? true;
    this.now = options.now ?? Date.now;
  }

  /** Late ticks dropped so far (one per market/interval the tick would have amended). */
  get lateDropped(): number {
    return this.counters.lateDropped;
  }

  get stats(): Readonly<CandleAggregatorCounters> {
    return { ...this.counters };
  }

  process(tick: Tick): Candle[] {
    const price = tick.last;
    const volume = tick.trade_volume ?? 0;
    if (!Number.isFinite(price) || !Number.isFinite(volume) || volume < 0 || !Number.isFinite(tick.event_time)) {
      this.counters.rejected++;
      return [];
    }
    const ingestTime = this.now();
    const out: Candle[] = [];
    const exchanges = this.allExchangeCandles ? [tick.exchange, ALL_EXCHANGES] : [tick.exchange];
    for (const interval of this.intervals) {
      for (const exchange of exchanges) {
        const market = this.market(exchange, tick.symbol, interval);
        this.apply(market, tick.event_time, price, volume, ingestTime, out);
      }
    }
    return out;
  }

  /**
   * Finalizes every bucket whose end + allowedLatenessMs <= watermarkMs, for markets that have not
   * seen a tick that recent (illiquid markets, or shutdown at a known time). Advances watermarks.
   */
  flush(watermarkMs: number): Candle[] {
    const ingestTime = this.now();
    const out: Candle[] = [];
    for (const market of this.markets.values()) {
      if (watermarkMs > market.watermark) {
        market.watermark = watermarkMs;
        this.finalizeDue(market, ingestTime, out);
        this.prune(market);
      }
    }
    return out;
  }

  snapshot(): TickToCandleAggregatorState {
    return structuredClone({ version: 1, markets: [...this.markets.values()], counters: this.counters });
  }

  static restore(state: TickToCandleAggregatorState, options: TickToCandleAggregatorOptions = {}): TickToCandleAggregator {
    if (state.version !== 1) throw new RangeError(`TickToCandleAggregator: unsupported state version ${String(state.version)}`);
    const aggregator = new TickToCandleAggregator(options);
    for (const market of structuredClone(state.markets)) {
      if (!aggregator.intervals.includes(market.interval)) continue;
      aggregator.markets.set(marketKey(market.exchange, market.symbol, market.interval), market);
    }
    Object.assign(aggregator.counters, state.counters);
    return aggregator;
  }

  private market(exchange: string, symbol: string, interval: Interval): MarketState {
    const key = marketKey(exchange, symbol, interval);
    let market = this.markets.get(key);
    if (!market) {
      market = { exchange, symbol, interval, watermark: Number.NEGATIVE_INFINITY, open: [], final: [] };
      this.markets.set(key, market);
    }
    return market;
  }

  private apply(market: MarketState, time: number, price: number, volume: number, ingestTime: number, out: Candle[]): void {
    const intervalMs = INTERVAL_MS[market.interval];
    const openTime = Math.floor(time / intervalMs) * intervalMs;

    if (time > market.watermark) {
      market.watermark = time;
      // Older buckets close before the tick that closed them shows up in its own bucket.
      this.finalizeDue(market, ingestTime, out);
    }

    const open = market.open.find((b) => b.openTime === openTime);
    if (open) {
      addTick(open, time, price, volume);
      this.maybeEmitUpdate(market, open, time, ingestTime, out);
      return;
    }

    const windowClosed = openTime + intervalMs + this.allowedLatenessMs <= market.watermark;
    if (!windowClosed) {
      const bucket = newBucket(openTime, time, price, volume);
      insertSorted(market.open, bucket);
      this.maybeEmitUpdate(market, bucket, time, ingestTime, out);
      return;
    }

    if (market.watermark - time > this.maxLatenessMs) {
      this.counters.lateDropped++;
      return;
    }
    const final = market.final.find((b) => b.openTime === openTime);
    if (final) {
      addTick(final, time, price, volume);
      final.revision++;
      this.counters.amended++;
      out.push(this.toCandle(market, final, true, ingestTime));
    } else {
      // The window closed with no ticks in it: this late tick is its whole (final) candle.
      const bucket = newBucket(openTime, time, price, volume);
      insertSorted(market.final, bucket);
      out.push(this.toCandle(market, bucket, true, ingestTime));
    }
    this.prune(market);
  }

  private maybeEmitUpdate(market: MarketState, bucket: BucketState, time: number, ingestTime: number, out: Candle[]): void {
    const due = this.updateEveryMs === 0 || bucket.lastUpdateAt === null || time - bucket.lastUpdateAt >= this.updateEveryMs;
    if (!due) return;
    bucket.lastUpdateAt = time;
    out.push(this.toCandle(market, bucket, false, ingestTime));
  }

  private finalizeDue(market: MarketState, ingestTime: number, out: Candle[]): void {
    const intervalMs = INTERVAL_MS[market.interval];
    while (market.open.length > 0) {
      const first = market.open[0]!;
      if (first.openTime + intervalMs + this.allowedLatenessMs > market.watermark) break;
      market.open.shift();
      insertSorted(market.final, first);
      out.push(this.toCandle(market, first, true, ingestTime));
    }
    this.prune(market);
  }

  /** Drops final buckets no tick can amend any more; always keeps the most recent one. */
  private prune(market: MarketState): void {
    const intervalMs = INTERVAL_MS[market.interval];
    while (market.final.length > 1) {
      const oldest = market.final[0]!;
      const closeTime = oldest.openTime + intervalMs - 1;
      if (market.watermark - closeTime <= this.maxLatenessMs) break;
      market.final.shift();
    }
  }

  private toCandle(market: MarketState, b: BucketState, isFinal: boolean, ingestTime: number): Candle {
    const closeTime = b.openTime + INTERVAL_MS[market.interval] - 1;
    const suffix = isFinal ? 'f' : `p${b.trades}`;
    return {
      event_id: `candle:${market.exchange}:${market.symbol}:${market.interval}:${b.openTime}:${b.revision}:${suffix}`,
      event_type: CANDLE_EVENT_TYPE,
      schema_version: CANDLE_SCHEMA_VERSION,
      // A final candle is the fact "this interval closed"; an update is "as of the latest tick".
      event_time: isFinal ? closeTime : b.closeAt,
      ingest_time: ingestTime,
      exchange: market.exchange,
      symbol: market.symbol,
      interval: market.interval,
      open_time: b.openTime,
      close_time: closeTime,
      open: b.open,
      high: b.high,
      low: b.low,
      close: b.close,
      volume: b.volume,
      trades: b.trades,
      is_final: isFinal,
      revision: b.revision,
    };
  }
}

function marketKey(exchange: string, symbol: string, interval: string): string {
  return `${exchange}\u0000${symbol}\u0000${interval}`;
}

function newBucket(openTime: number, time: number, price: number, volume: number): BucketState {
  return {
    openTime, open: price, openAt: time, high: price, low: price, close: price, closeAt: time,
    volume, trades: 1, revision: 0, lastUpdateAt: null,
  };
}

function addTick(b: BucketState, time: number, price: number, volume: number): void {
  if (time < b.openAt) {
    b.open = price;
    b.openAt = time;
  }
  // Ties go to the later arrival: within one partition that is the later tick.
  if (time >= b.closeAt) {
    b.close = price;
    b.closeAt = time;
  }
  if (price > b.high) b.high = price;
  if (price < b.low) b.low = price;
  b.volume += volume;
  b.trades++;
}

function insertSorted(list: BucketState[], bucket: BucketState): void {
  let i = list.length;
  while (i > 0 && list[i - 1]!.openTime > bucket.openTime) i--;
  list.splice(i, 0, bucket);
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`TickToCandleAggregator: ${name} must be a finite number >= 0, got ${String(value)}`);
  }
  return value;
}
