// ccxt's unified Ticker and OHLCV structures to the Tick and Kline records of market.ticks.v1 and
// market.klines.v1. No validation here: impossible values pass through (NaN for a missing last)
// so the quality gate can reject them with a reason.
import { createHash } from 'node:crypto';
import type { OHLCV, Ticker } from 'ccxt';
import type { Kline, Tick } from '../../schemas/generated/events.ts';

export const TICK_EVENT_TYPE = 'tick';
export const KLINE_EVENT_TYPE = 'kline';
export const TICK_SCHEMA_VERSION = 1;
export const KLINE_SCHEMA_VERSION = 1;

export interface TickContext {
  /** ccxt exchange id. */
  exchange: string;
  /** The symbol that was asked for; used when the ticker carries none. */
  symbol: string;
  ingestTime: number;
  /** Tick.source: ccxt, synthetic or simulated. */
  source?: string;
}

const finiteOrNull = (value: number | null | undefined): number | null =>
  value === undefined || value === null ? null : value;

function shortHash(text: string): string {
  return createHash('sha1').update(text).digest('hex').slice(0, 12);
}

/**
 * exchange:symbol:event_time:hash(last|bid|ask). The same ticker seen twice (a REST poll that
 * returns an unchanged ticker, a replay) gets the same id; a quote change at the same exchange
 * millisecond does not collide.
 */
export function tickEventId(exchange: string, symbol: string, eventTime: number, last: number, bid: number | null, ask: number | null): string {
  return `${exchange}:${symbol}:${eventTime}:${shortHash(`${last}|${bid}|${ask}`)}`;
}

export function tickKey(exchange: string, symbol: string): string {
  return `${exchange}:${symbol}`;
}

export function tickFromTicker(ticker: Ticker, ctx: TickContext): Tick {
  const symbol = ticker.symbol ?? ctx.symbol;
  // Exchange time where the exchange gives one; otherwise the moment we received it.
  const eventTime = typeof ticker.timestamp === 'number' && Number.isFinite(ticker.timestamp) ? ticker.timestamp : ctx.ingestTime;
  const last = ticker.last ?? ticker.close ?? Number.NaN;
  const bid = finiteOrNull(ticker.bid);
  const ask = finiteOrNull(ticker.ask);
  return {
    event_id: tickEventId(ctx.exchange, symbol, eventTime, last, bid, ask),
    event_type: TICK_EVENT_TYPE,
    schema_version: TICK_SCHEMA_VERSION,
    event_time: eventTime,
    ingest_time: ctx.ingestTime,
    exchange: ctx.exchange,
    symbol,
    last,
    bid,
    ask,
    bid_size: finiteOrNull(ticker.bidVolume),
    ask_size: finiteOrNull(ticker.askVolume),
    base_volume: finiteOrNull(ticker.baseVolume),
    quote_volume: finiteOrNull(ticker.quoteVolume),
    // A ticker carries rolling 24h volume only; per-tick traded volume is unknown here.
    trade_volume: null,
    source: ctx.source ?? 'ccxt',
  };
}

export interface KlineContext {
  exchange: string;
  symbol: string;
  /** ccxt timeframe, e.g. 1m. */
  interval: string;
  intervalMs: number;
  ingestTime: number;
  closed: boolean;
  backfill: boolean;
}

/** exchange:symbol:interval:open_time — a candle re-fetched by a backfill dedupes against the live one. */
export function klineEventId(exchange: string, symbol: string, interval: string, openTime: number): string {
  return `${exchange}:${symbol}:${interval}:${openTime}`;
}

export function klineKey(exchange: string, symbol: string, interval: string): string {
  return `${exchange}:${symbol}:${interval}`;
}

export function klineFromOhlcv(candle: OHLCV, ctx: KlineContext): Kline {
  const [openTime, open, high, low, close, volume] = candle;
  const start = openTime ?? Number.NaN;
  return {
    event_id: klineEventId(ctx.exchange, ctx.symbol, ctx.interval, start),
    event_type: KLINE_EVENT_TYPE,
    schema_version: KLINE_SCHEMA_VERSION,
    // The fact is the candle as of its close.
    event_time: start + ctx.intervalMs,
    ingest_time: ctx.ingestTime,
    exchange: ctx.exchange,
    symbol: ctx.symbol,
    interval: ctx.interval,
    open_time: start,
    open: open ?? Number.NaN,
    high: high ?? Number.NaN,
    low: low ?? Number.NaN,
    close: close ?? Number.NaN,
    volume: volume ?? Number.NaN,
    closed: ctx.closed,
    backfill: ctx.backfill,
  };
}
