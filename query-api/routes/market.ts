// /api/v1/market: prices, candlesticks, indicators and history, read from ClickHouse.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { parseSymbol, SymbolCatalog } from '../symbols.ts';
import { HttpError } from '../context.ts';

const Price = Type.Object({
  symbol: Type.String(),
  price: Type.Number({ description: 'Last price of the freshest tick across exchanges' }),
  exchange: Type.String({ description: 'Exchange of the freshest tick' }),
  bid: Type.Union([Type.Number(), Type.Null()]),
  ask: Type.Union([Type.Number(), Type.Null()]),
  event_time: Type.String({ format: 'date-time' }),
  age_ms: Type.Integer({ description: 'Milliseconds between event_time and the answer' }),
  exchanges: Type.Array(Type.Object({
    exchange: Type.String(), price: Type.Number(), bid: Type.Union([Type.Number(), Type.Null()]), ask: Type.Union([Type.Number(), Type.Null()]), event_time: Type.String({ format: 'date-time' }),
  })),
});

interface LatestRow { symbol: string; exchange: string; t: string; last: number; bid: number | null; ask: number | null }

export const marketRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { clickhouse, config } = app.deps;
  const symbols = new SymbolCatalog(clickhouse, config.market.symbols);

  app.get('/prices', {
    schema: {
      tags: ['market'],
      summary: 'Current market prices: the latest tick per symbol, with each exchange\'s latest',
      querystring: Type.Object({
        symbols: Type.Optional(Type.String({ description: 'Comma-separated symbols (BTC/USDT or BTC-USDT); default all', maxLength: 2000 })),
      }),
      response: { 200: Type.Object({ prices: Type.Array(Price), as_of: Type.String({ format: 'date-time' }) }) },
    },
  }, async (req) => {
    const wanted = req.query.symbols ? req.query.symbols.split(',').filter(Boolean).map(parseSymbol) : [];
    if (wanted.length > 100) throw new HttpError(400, 'querystring/symbols: at most 100 symbols');
    if (wanted.length) {
      const known = await symbols.known();
      const unknown = wanted.filter((s) => !known.has(s));
      if (unknown.length) throw new HttpError(404, `unknown symbol(s): ${unknown.join(', ')}`);
    }
    const rs = await clickhouse.query({
      query: `SELECT symbol, exchange, toUnixTimestamp64Milli(event_time) AS t, last, bid, ask
              FROM latest_ticks FINAL
              WHERE empty({symbols:Array(String)}) OR has({symbols:Array(String)}, symbol)
              ORDER BY symbol, event_time DESC`,
      query_params: { symbols: wanted },
      format: 'JSONEachRow',
    });
    const rows = await rs.json<LatestRow>();
    const now = Date.now();
    const bySymbol = new Map<string, LatestRow[]>();
    for (const r of rows) bySymbol.set(r.symbol, [...(bySymbol.get(r.symbol) ?? []), r]);
    const prices = [...bySymbol.entries()].map(([symbol, rs]) => {
      const top = rs[0]!;
      return {
        symbol,
        price: top.last,
        exchange: top.exchange,
        bid: top.bid,
        ask: top.ask,
        event_time: new Date(Number(top.t)).toISOString(),
        age_ms: Math.max(0, now - Number(top.t)),
        exchanges: rs.map((r) => ({ exchange: r.exchange, price: r.last, bid: r.bid, ask: r.ask, event_time: new Date(Number(r.t)).toISOString() })),
      };
    });
    return { prices, as_of: new Date(now).toISOString() };
  });
};
