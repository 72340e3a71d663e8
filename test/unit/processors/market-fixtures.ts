// Builders for the events processor tests feed: ticks, candles and a seeded random walk.
import type { Candle, IndicatorValues, Tick } from '../../../schemas/generated/events.ts';

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
/** 2024-01-01T00:00:00Z, a Monday. */
export const T0 = Date.UTC(2024, 0, 1);

export function tick(exchange: string, symbol: string, eventTime: number, last: number, tradeVolume: number | null = 1): Tick {
  return {
    event_id: `tick:${exchange}:${symbol}:${eventTime}:${last}`,
    event_type: 'tick',
    schema_version: 1,
    event_time: eventTime,
    ingest_time: eventTime,
    exchange,
    symbol,
    last,
    bid: null,
    ask: null,
    bid_size: null,
    ask_size: null,
    base_volume: null,
    quote_volume: null,
    trade_volume: tradeVolume,
    source: 'synthetic',
  };
}

export interface Bar { open?: number; high?: number; low?: number; close: number; volume?: number }

export interface SeriesOptions {
  exchange?: string;
  symbol?: string;
  interval?: string;
  intervalMs?: number;
  start?: number;
}

/** Final candles, one per bar, consecutive from `start`. high/low default to max/min(open, close). */
export function candles(bars: readonly (Bar | number)[], options: SeriesOptions = {}): Candle[] {
  const { exchange = '*', symbol = 'BTC/USDT', interval = '1h', intervalMs = HOUR, start = T0 } = options;
  let prevClose: number | undefined;
  return bars.map((raw, i) => {
    const bar = typeof raw === 'number' ? { close: raw } : raw;
    const open = bar.open ?? prevClose ?? bar.close;
    prevClose = bar.close;
    const openTime = start + i * intervalMs;
    return {
      event_id: `candle:${exchange}:${symbol}:${interval}:${openTime}:0:f`,
      event_type: 'candle',
      schema_version: 1,
      event_time: openTime + intervalMs - 1,
      ingest_time: openTime + intervalMs,
      exchange,
      symbol,
      interval,
      open_time: openTime,
      close_time: openTime + intervalMs - 1,
      open,
      high: bar.high ?? Math.max(open, bar.close),
      low: bar.low ?? Math.min(open, bar.close),
      close: bar.close,
      volume: bar.volume ?? 1,
      trades: 1,
      is_final: true,
      revision: 0,
    };
  });
}

/** Deterministic pseudo-random OHLCV walk (LCG), so cross-checks run on irregular data. */
export function randomWalk(n: number, seed = 42, startPrice = 100): Bar[] {
  let state = seed >>> 0;
  const rand = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const bars: Bar[] = [];
  let close = startPrice;
  for (let i = 0; i < n; i++) {
    const open = close;
    close = Math.max(1, open * (1 + (rand() - 0.5) * 0.04));
    const high = Math.max(open, close) * (1 + rand() * 0.01);
    const low = Math.min(open, close) * (1 - rand() * 0.01);
    bars.push({ open, high, low, close, volume: Math.round(100 + rand() * 900) });
  }
  return bars;
}

export function indicatorEvent(candle: Candle, values: Record<string, number>): IndicatorValues {
  return {
    event_id: `indicators:${candle.exchange}:${candle.symbol}:${candle.interval}:${candle.open_time}`,
    event_type: 'indicator_values',
    schema_version: 1,
    event_time: candle.close_time,
    ingest_time: candle.close_time + 1,
    exchange: candle.exchange,
    symbol: candle.symbol,
    interval: candle.interval,
    open_time: candle.open_time,
    close: candle.close,
    values,
  };
}
