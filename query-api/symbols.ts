// Symbols in paths: BTC-USDT, BTC_USDT or BTC%2FUSDT all mean BTC/USDT.
import { HttpError } from './context.ts';
import type { ClickHouseClient } from '@clickhouse/client';
import { Type } from '@sinclair/typebox';

/** Path params of the routes under /{symbol}; parseSymbol reads the value. */
export const SymbolParams = Type.Object({ symbol: Type.String({ maxLength: 50, description: 'Market, e.g. BTC-USDT' }) });

export function parseSymbol(raw: string): string {
  const s = decodeURIComponent(raw).trim().toUpperCase().replace(/[-_]/, '/');
  if (!/^[A-Z0-9]{1,20}\/[A-Z0-9]{1,20}$/.test(s)) throw new HttpError(400, `symbol "${raw}" is not a market like BTC/USDT (write BTC-USDT in paths)`);
  return s;
}

/** Known symbols: configured ones plus any the store has seen; cached briefly. */
export class SymbolCatalog {
  private cache: { at: number; set: Set<string> } | null = null;
  constructor(private readonly client: ClickHouseClient, private readonly configured: string[], private readonly ttlMs = 5000) {}

  async known(): Promise<Set<string>> {
    if (this.cache && Date.now() - this.cache.at < this.ttlMs) return this.cache.set;
    const rs = await this.client.query({ query: 'SELECT DISTINCT symbol FROM latest_ticks', format: 'JSONEachRow' });
    const set = new Set([...this.configured, ...(await rs.json<{ symbol: string }>()).map((r) => r.symbol)]);
    this.cache = { at: Date.now(), set };
    return set;
  }

  async require(symbol: string): Promise<void> {
    if (!(await this.known()).has(symbol)) throw new HttpError(404, `unknown symbol ${symbol}`);
  }
}
