// Seeded synthetic candles for the ML and backtest tests: log returns follow an AR(1) process
// (some momentum a model can learn) with noise; same seed, same candles.
import type { Candle } from '../../../schemas/generated/events.ts';
import { gaussian, mulberry32 } from '../../../runtime/seeded-random.ts';

export interface SyntheticOptions {
  count: number;
  seed?: number;
  symbol?: string;
  interval?: string;
  intervalMs?: number;
  start?: number;
  startPrice?: number;
  /** AR(1) coefficient of consecutive log returns. */
  momentum?: number;
  /** Standard deviation of the return noise. */
  noise?: number;
}

export function syntheticCandles(options: SyntheticOptions): Candle[] {
  const random = mulberry32(options.seed ?? 7);
  const intervalMs = options.intervalMs ?? 60_000;
  const start = options.start ?? Date.UTC(2024, 0, 1);
  const momentum = options.momentum ?? 0.35;
  const noise = options.noise ?? 0.002;
  const symbol = options.symbol ?? 'BTC/USDT';
  const interval = options.interval ?? '1m';
  const candles: Candle[] = [];
  let close = options.startPrice ?? 100;
  let previousReturn = 0;
  for (let i = 0; i < options.count; i++) {
    const r = momentum * previousReturn + noise * gaussian(random);
    previousReturn = r;
    const open = close;
    close = open * Math.exp(r);
    const high = Math.max(open, close) * (1 + Math.abs(gaussian(random)) * noise * 0.3);
    const low = Math.min(open, close) * (1 - Math.abs(gaussian(random)) * noise * 0.3);
    candles.push(makeCandle({ symbol, interval, openTime: start + i * intervalMs, intervalMs, open, high, low, close, volume: 10 + 5 * random() + 200 * Math.abs(r) }));
  }
  return candles;
}

export interface CandleParts {
  symbol?: string;
  interval?: string;
  openTime: number;
  intervalMs?: number;
  open: number;
  high?: number;
  low?: number;
  close: number;
  volume?: number;
}

export function makeCandle(parts: CandleParts): Candle {
  const intervalMs = parts.intervalMs ?? 60_000;
  const symbol = parts.symbol ?? 'BTC/USDT';
  const interval = parts.interval ?? '1m';
  return {
    event_id: `${symbol}:${interval}:${parts.openTime}`,
    event_type: 'candle',
    schema_version: 1,
    event_time: parts.openTime + intervalMs - 1,
    ingest_time: parts.openTime + intervalMs,
    exchange: '*',
    symbol,
    interval,
    open_time: parts.openTime,
    close_time: parts.openTime + intervalMs - 1,
    open: parts.open,
    high: parts.high ?? Math.max(parts.open, parts.close),
    low: parts.low ?? Math.min(parts.open, parts.close),
    close: parts.close,
    volume: parts.volume ?? 1,
    trades: 1,
    is_final: true,
    revision: 0,
  };
}
