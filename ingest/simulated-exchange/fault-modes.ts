// Fault modes of the simulated exchange and the corrupted payloads they produce. Dialects render
// exchange formats; this file decides *what* is wrong, so every dialect fails the same ways.
import type { MarketQuote } from './price-path.ts';

export const FAULT_KINDS = ['none', 'drop', 'stall', 'http429', 'http5xx', 'garbage', 'nanPrices'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export function isFaultKind(value: unknown): value is FaultKind {
  return typeof value === 'string' && (FAULT_KINDS as readonly string[]).includes(value);
}

export interface FaultScope {
  /** Unified symbols the fault applies to; omitted = every market and every connection. */
  symbols?: readonly string[];
}

export interface ActiveFault {
  kind: FaultKind;
  /** null = all markets. */
  symbols: ReadonlySet<string> | null;
  since: number;
}

export function faultCovers(fault: ActiveFault, symbol: string | undefined): boolean {
  if (fault.symbols === null) return true;
  return symbol !== undefined && fault.symbols.has(symbol);
}

/** Ticker fields as the exchange would print them (strings, as Binance and OKX do). */
export interface QuoteFields {
  time: number;
  last: string | undefined;
  bid: string | undefined;
  ask: string | undefined;
  bidSize: string;
  askSize: string;
  lastSize: string;
  open: string;
  high: string;
  low: string;
  baseVolume: string;
  quoteVolume: string;
}

function decimalsFor(price: number): number {
  if (price >= 1000) return 2;
  if (price >= 1) return 4;
  return 8;
}

export function formatQuote(quote: MarketQuote): QuoteFields {
  const d = decimalsFor(quote.last);
  return {
    time: quote.time,
    last: quote.last.toFixed(d),
    bid: quote.bid.toFixed(d),
    ask: quote.ask.toFixed(d),
    bidSize: quote.bidSize.toFixed(8),
    askSize: quote.askSize.toFixed(8),
    lastSize: quote.lastSize.toFixed(8),
    open: quote.open24h.toFixed(d),
    high: quote.high24h.toFixed(d),
    low: quote.low24h.toFixed(d),
    baseVolume: quote.baseVolume24h.toFixed(8),
    quoteVolume: quote.quoteVolume24h.toFixed(2),
  };
}

export const NAN_PRICE_VARIANTS = ['nan-last', 'negative', 'zero', 'crossed', 'negative-bid'] as const;
export type NanPriceVariant = (typeof NAN_PRICE_VARIANTS)[number];

/** nanPrices: rotate through the ways a price can be impossible. */
export function corruptPrices(fields: QuoteFields, counter: number): { variant: NanPriceVariant; fields: QuoteFields } {
  const variant = NAN_PRICE_VARIANTS[counter % NAN_PRICE_VARIANTS.length] ?? 'nan-last';
  const neg = (s: string | undefined): string => (s === undefined ? '-1' : `-${s}`);
  switch (variant) {
    case 'nan-last':
      return { variant, fields: { ...fields, last: 'NaN' } };
    case 'negative':
      return { variant, fields: { ...fields, last: neg(fields.last), bid: neg(fields.bid), ask: neg(fields.ask) } };
    case 'zero':
      return { variant, fields: { ...fields, last: '0', bid: '0', ask: '0' } };
    case 'crossed': {
      const ask = Number(fields.ask ?? '1');
      return { variant, fields: { ...fields, bid: (ask * 1.01).toFixed(8) } };
    }
    case 'negative-bid':
      return { variant, fields: { ...fields, bid: neg(fields.bid) } };
  }
}

export const GARBAGE_VARIANTS = ['html', 'wrong-shape', 'missing-last', 'future-time', 'truncated-json'] as const;
export type GarbageVariant = (typeof GARBAGE_VARIANTS)[number];

export type GarbagePayload =
  | { variant: GarbageVariant; body: string }
  | { variant: GarbageVariant; fields: QuoteFields };

/**
 * garbage: whole-body nonsense (the dialect is bypassed) or a well-formed message carrying a
 * missing price or a timestamp an hour in the future (the dialect renders it).
 */
export function garbagePayload(fields: QuoteFields, counter: number): GarbagePayload {
  const variant = GARBAGE_VARIANTS[counter % GARBAGE_VARIANTS.length] ?? 'html';
  switch (variant) {
    case 'html':
      return { variant, body: '<html><body><h1>502 Bad Gateway</h1></body></html>' };
    case 'wrong-shape':
      return { variant, body: JSON.stringify({ unexpected: 'shape', items: [1, 2, 3] }) };
    case 'missing-last':
      return { variant, fields: { ...fields, last: undefined } };
    case 'future-time':
      return { variant, fields: { ...fields, time: fields.time + 3_600_000 } };
    case 'truncated-json':
      return { variant, body: '{"symbol": "BTCUSDT", "lastPrice": ' };
  }
}
