// Exchange-specific ccxt options the ingestors want by default. Configuration, not code paths:
// the connection merges a preset under the operator's own ccxt options and then only calls
// ccxt's unified API.
import type { ConstructorArgs } from 'ccxt';

export const EXCHANGE_PRESETS: Readonly<Record<string, ConstructorArgs>> = {
  // ccxt's binance watchTicker defaults to the miniTicker stream, which has no bid/ask; the full
  // 24hrTicker stream has both.
  binance: { options: { watchTickers: { name: 'ticker' } } },
  okx: {},
  bybit: {},
  kraken: {},
  coinbase: {},
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;
}

/** Deep merge of plain objects (later wins); arrays, class instances (agents) are taken as they are. */
export function mergeCcxtOptions(...layers: readonly (ConstructorArgs | undefined)[]): ConstructorArgs {
  const out: Record<string, unknown> = {};
  for (const layer of layers) {
    if (layer === undefined) continue;
    for (const [key, value] of Object.entries(layer)) {
      const existing = out[key];
      out[key] = isPlainObject(existing) && isPlainObject(value) ? mergeCcxtOptions(existing, value) : value;
    }
  }
  return out;
}
