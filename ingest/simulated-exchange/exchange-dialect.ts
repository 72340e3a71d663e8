// What one simulated exchange must say, and how. A dialect renders one real exchange's REST and
// WebSocket formats; adding an exchange to the simulator is adding a dialect file.
import type { ConstructorArgs } from 'ccxt';
import type { QuoteFields } from './fault-modes.ts';
import type { SimulatedCandle, SimulatedMarketSpec } from './price-path.ts';

/** A ticker as the dialect should render it: well-formed fields (maybe corrupt) or a raw garbage body. */
export type TickerPayload = { fields: QuoteFields } | { body: string };

export interface DialectContext {
  now(): number;
  readonly markets: readonly SimulatedMarketSpec[];
  hasMarket(symbol: string): boolean;
  /** The market's ticker right now, with the active nanPrices/garbage corruption applied. */
  ticker(symbol: string): TickerPayload;
  /** A garbage body to serve instead of candles when the garbage fault covers the market. */
  klineGarbage(symbol: string): string | undefined;
  candle(symbol: string, openTime: number, intervalMs: number): SimulatedCandle;
  /** Earliest candle open time the exchange has history for. */
  readonly historyStart: number;
  /** Markets to leave out of multi-market answers (a per-symbol stall). */
  stalled(symbol: string): boolean;
}

export interface RestAnswer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

export interface RestRoute {
  /** markets/meta requests are not corrupted by data faults; ticker/klines are. */
  kind: 'meta' | 'markets' | 'ticker' | 'klines';
  /** Unified symbols the request is about; 'all' for multi-market requests. */
  symbols: readonly string[] | 'all';
}

export interface WsSession {
  onMessage(text: string): void;
  /** Frames this session wants sent for a market's push tick (ticker and candle updates). */
  push(symbol: string): string[];
  subscribedSymbols(): ReadonlySet<string>;
}

export interface ExchangeDialect {
  /** ccxt exchange id this dialect imitates. */
  readonly id: string;
  route(path: string, query: URLSearchParams, ctx: DialectContext): RestRoute | undefined;
  answer(path: string, query: URLSearchParams, ctx: DialectContext): RestAnswer;
  errorAnswer(kind: 'rateLimit' | 'unavailable'): RestAnswer;
  isWebSocketPath(path: string): boolean;
  openSession(path: string, ctx: DialectContext, send: (frame: string) => void): WsSession;
  /** ccxt constructor options that point ccxt's real code at a simulator at these base URLs. */
  ccxtOptions(httpBase: string, wsBase: string): ConstructorArgs;
}

export function json(status: number, value: unknown, headers?: Record<string, string>): RestAnswer {
  return { status, body: JSON.stringify(value), headers: { 'content-type': 'application/json', ...headers } };
}

export function splitSymbol(symbol: string): { base: string; quote: string } {
  const [base = symbol, quote = ''] = symbol.split('/');
  return { base, quote };
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** '1s', '15m', '4h', '1d' (case-insensitive unit except M) to milliseconds; undefined if unknown. */
export function intervalToMs(interval: string): number | undefined {
  const match = /^(\d+)([smhdwSMHDW])$/.exec(interval);
  if (!match) return undefined;
  const unit = match[2] === 'M' ? undefined : UNIT_MS[(match[2] ?? '').toLowerCase()];
  return unit === undefined ? undefined : Number(match[1]) * unit;
}

/**
 * Candle open times an exchange would return, ascending: from `from` (inclusive) forward, or the
 * newest ones ending at `to`, never past the forming candle and never before history starts.
 */
export function selectOpenTimes(
  intervalMs: number,
  ctx: Pick<DialectContext, 'now' | 'historyStart'>,
  range: { from?: number; to?: number; limit: number },
): number[] {
  const current = Math.floor(ctx.now() / intervalMs) * intervalMs;
  const earliest = Math.ceil(ctx.historyStart / intervalMs) * intervalMs;
  const last = Math.min(current, range.to === undefined ? current : Math.floor(range.to / intervalMs) * intervalMs);
  const times: number[] = [];
  if (range.from !== undefined) {
    for (let t = Math.max(earliest, Math.ceil(range.from / intervalMs) * intervalMs); t <= last && times.length < range.limit; t += intervalMs) {
      times.push(t);
    }
    return times;
  }
  for (let t = last; t >= earliest && times.length < range.limit; t -= intervalMs) times.push(t);
  return times.reverse();
}

export function clampLimit(raw: string | null, fallback: number, max: number): number {
  const n = raw === null ? fallback : Number(raw);
  if (!Number.isFinite(n) || n <= 0) return fallback;
  return Math.min(Math.floor(n), max);
}

export function fixed(value: number): string {
  return value >= 1000 ? value.toFixed(2) : value >= 1 ? value.toFixed(4) : value.toFixed(8);
}
