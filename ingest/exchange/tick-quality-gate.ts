// Data quality at the door: a tick is published only if its prices are possible, its time is
// plausible and it is not a repeat of what this market already published. Everything else is
// rejected with a code (for metrics) and a reason (for the DLQ). Per-market state only, no I/O.
import type { Kline, Tick } from '../../schemas/generated/events.ts';
import { tickKey } from './tick-normalizer.ts';

export const REJECT_CODES = [
  'non_finite_price',
  'non_positive_price',
  'crossed_book',
  'invalid_volume',
  'invalid_timestamp',
  'future_timestamp',
  'duplicate',
  'out_of_order',
  'inconsistent_candle',
  'unparseable',
] as const;
export type RejectCode = (typeof REJECT_CODES)[number];

export interface TickQualityGateConfig {
  /** How far ahead of our clock an exchange timestamp may be (clock skew allowance). */
  maxFutureMs: number;
}

export const DEFAULT_QUALITY_GATE_CONFIG: Readonly<TickQualityGateConfig> = Object.freeze({ maxFutureMs: 5_000 });

export type TickGateResult = { ok: Tick } | { rejected: RejectCode; reason: string; raw: unknown };

export interface GateCounters {
  accepted: number;
  rejected: number;
  byCode: Record<RejectCode, number>;
}

interface LastAccepted {
  eventTime: number;
  fingerprint: string;
}

const PRICE_FIELDS = ['last', 'bid', 'ask'] as const;
const SIZE_FIELDS = ['bid_size', 'ask_size', 'base_volume', 'quote_volume', 'trade_volume'] as const;

function fingerprint(t: Tick): string {
  return `${t.last}|${t.bid}|${t.ask}|${t.bid_size}|${t.ask_size}|${t.base_volume}|${t.quote_volume}`;
}

function emptyCounts(): Record<RejectCode, number> {
  return Object.fromEntries(REJECT_CODES.map((c) => [c, 0])) as Record<RejectCode, number>;
}

/** Stateless checks shared by ticks and candles: prices, sizes, timestamp. */
function checkValues(tick: Tick, now: number, maxFutureMs: number): { code: RejectCode; reason: string } | null {
  for (const field of PRICE_FIELDS) {
    const value = tick[field];
    if (value === null) continue;
    if (!Number.isFinite(value)) return { code: 'non_finite_price', reason: `${field} is ${value} (missing or not a number)` };
    if (value <= 0) return { code: 'non_positive_price', reason: `${field} is ${value}, prices must be > 0` };
  }
  if (tick.bid !== null && tick.ask !== null && tick.bid > tick.ask) {
    return { code: 'crossed_book', reason: `bid ${tick.bid} is above ask ${tick.ask}` };
  }
  for (const field of SIZE_FIELDS) {
    const value = tick[field];
    if (value !== null && !(Number.isFinite(value) && value >= 0)) return { code: 'invalid_volume', reason: `${field} is ${value}, must be a number >= 0` };
  }
  if (!Number.isFinite(tick.event_time) || tick.event_time <= 0) {
    return { code: 'invalid_timestamp', reason: `event_time is ${tick.event_time}` };
  }
  if (tick.event_time > now + maxFutureMs) {
    return { code: 'future_timestamp', reason: `event_time ${tick.event_time} is ${tick.event_time - now} ms ahead of ingest clock (allowed ${maxFutureMs} ms)` };
  }
  return null;
}

export class TickQualityGate {
  readonly config: Readonly<TickQualityGateConfig>;
  private readonly lastByMarket = new Map<string, LastAccepted>();
  private readonly counts = { accepted: 0, rejected: 0, byCode: emptyCounts() };

  constructor(config: Partial<TickQualityGateConfig> = {}) {
    this.config = Object.freeze({ ...DEFAULT_QUALITY_GATE_CONFIG, ...config });
  }

  /** `now` defaults to the tick's ingest time; `raw` (the exchange payload) travels with a rejection. */
  check(tick: Tick, raw: unknown = tick, now: number = tick.ingest_time): TickGateResult {
    const problem = checkValues(tick, now, this.config.maxFutureMs) ?? this.checkOrder(tick);
    if (problem !== null) return this.reject(problem.code, problem.reason, raw);
    this.lastByMarket.set(tickKey(tick.exchange, tick.symbol), { eventTime: tick.event_time, fingerprint: fingerprint(tick) });
    this.counts.accepted++;
    return { ok: tick };
  }

  /** Count a message that never became a tick (ccxt could not parse it). */
  recordUnparseable(reason: string, raw: unknown): TickGateResult {
    return this.reject('unparseable', reason, raw);
  }

  counters(): GateCounters {
    return { accepted: this.counts.accepted, rejected: this.counts.rejected, byCode: { ...this.counts.byCode } };
  }

  /** Forget a market's ordering state, e.g. after a symbol is removed. */
  forget(exchange: string, symbol: string): void {
    this.lastByMarket.delete(tickKey(exchange, symbol));
  }

  private checkOrder(tick: Tick): { code: RejectCode; reason: string } | null {
    const last = this.lastByMarket.get(tickKey(tick.exchange, tick.symbol));
    if (last === undefined) return null;
    if (tick.event_time < last.eventTime) {
      return { code: 'out_of_order', reason: `event_time ${tick.event_time} is older than the last accepted ${last.eventTime}` };
    }
    if (tick.event_time === last.eventTime && fingerprint(tick) === last.fingerprint) {
      return { code: 'duplicate', reason: `same content as the tick already accepted at ${last.eventTime}` };
    }
    return null;
  }

  private reject(code: RejectCode, reason: string, raw: unknown): TickGateResult {
    this.counts.rejected++;
    this.counts.byCode[code]++;
    return { rejected: code, reason, raw };
  }
}

/** A closed candle must have positive, finite, consistent OHLC and a non-negative volume. */
export function validateKline(kline: Kline, now: number, maxFutureMs = DEFAULT_QUALITY_GATE_CONFIG.maxFutureMs): { code: RejectCode; reason: string } | null {
  const { open, high, low, close, volume } = kline;
  for (const [name, value] of [['open', open], ['high', high], ['low', low], ['close', close]] as const) {
    if (!Number.isFinite(value)) return { code: 'non_finite_price', reason: `${name} is ${value} (missing or not a number)` };
    if (value <= 0) return { code: 'non_positive_price', reason: `${name} is ${value}, prices must be > 0` };
  }
  if (high < Math.max(open, close, low) || low > Math.min(open, close)) {
    return { code: 'inconsistent_candle', reason: `high ${high} / low ${low} do not bound open ${open} and close ${close}` };
  }
  if (!(Number.isFinite(volume) && volume >= 0)) return { code: 'invalid_volume', reason: `volume is ${volume}, must be a number >= 0` };
  if (!Number.isFinite(kline.open_time) || kline.open_time <= 0) return { code: 'invalid_timestamp', reason: `open_time is ${kline.open_time}` };
  if (kline.open_time > now + maxFutureMs) return { code: 'future_timestamp', reason: `open_time ${kline.open_time} is in the future` };
  return null;
}
