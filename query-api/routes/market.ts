// /api/v1/market: prices, candlesticks, indicators and history, read from ClickHouse.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { parseSymbol, SymbolCatalog } from '../symbols.ts';
import { HttpError } from '../context.ts';
import { CandleQuery, CandleSeries, ExchangeParam, IntervalParam, parseTime, readCandles, TimeParam } from '../candle-source.ts';

const SymbolParams = Type.Object({ symbol: Type.String({ maxLength: 50, description: 'Market, e.g. BTC-USDT (or BTC_USDT, BTC%2FUSDT)' }) });
const INDICATOR_DEFAULT_LIMIT = 100;
const INDICATOR_MAX_LIMIT = 1000;
const HISTORY_DEFAULT_LIMIT = 1000;
const HISTORY_MAX_LIMIT = 10_000;
const HISTORY_DEFAULT_SPAN_MS = 3_600_000;

const HistoryTick = Type.Object({
  exchange: Type.String(),
  event_time: Type.String({ format: 'date-time' }),
  last: Type.Number(),
  bid: Type.Union([Type.Number(), Type.Null()]),
  ask: Type.Union([Type.Number(), Type.Null()]),
  base_volume: Type.Union([Type.Number(), Type.Null()]),
  quote_volume: Type.Union([Type.Number(), Type.Null()]),
});

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

  await app.register(marketSeriesRoutes);
};

// The rest of the group, in a second plugin function so the additions read on their own.
export const marketSeriesRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { clickhouse, config } = app.deps;
  const symbols = new SymbolCatalog(clickhouse, config.market.symbols);
  const known = async (raw: string) => { const s = parseSymbol(raw); await symbols.require(s); return s; };

  app.get('/candlestick/:symbol', {
    schema: {
      tags: ['market'],
      summary: 'Candlesticks for a symbol from the candles table (the same source as /exchanges/klines)',
      params: SymbolParams, querystring: CandleQuery,
      response: { 200: CandleSeries },
    },
  }, async (req) => readCandles(clickhouse, await known(req.params.symbol), req.query));

  app.get('/indicators/:symbol', {
    schema: {
      tags: ['market'],
      summary: 'Technical indicator values at candle close: the latest set and a series',
      params: SymbolParams,
      querystring: Type.Object({
        interval: Type.Optional(IntervalParam),
        exchange: Type.Optional(ExchangeParam),
        names: Type.Optional(Type.String({ maxLength: 1000, description: 'Comma-separated indicator names (rsi_14, macd, bb_upper, ...); default all' })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: INDICATOR_MAX_LIMIT, default: INDICATOR_DEFAULT_LIMIT, description: `Most recent candles (default ${INDICATOR_DEFAULT_LIMIT}, max ${INDICATOR_MAX_LIMIT})` })),
        start: Type.Optional(TimeParam('Earliest candle open time')),
        end: Type.Optional(TimeParam('Latest candle open time; default now')),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          symbol: Type.String(), exchange: Type.String(), interval: Type.String(),
          latest: Type.Union([Type.Object({ open_time: Type.String({ format: 'date-time' }), close: Type.Number(), values: Type.Record(Type.String(), Type.Number()) }), Type.Null()]),
          series: Type.Array(Type.Object({ open_time: Type.String({ format: 'date-time' }), close: Type.Number(), values: Type.Record(Type.String(), Type.Number()) })),
        }),
      },
    },
  }, async (req) => {
    const symbol = await known(req.params.symbol);
    const interval = req.query.interval ?? '1m';
    const exchange = req.query.exchange ?? '*';
    const names = (req.query.names ?? '').split(',').map((x) => x.trim()).filter(Boolean);
    for (const n of names) if (!/^[a-z][a-z0-9_.]*$/.test(n)) throw new HttpError(400, `querystring/names: "${n}" is not an indicator name like rsi_14`);
    const end = parseTime('end', req.query.end, Date.now());
    const start = parseTime('start', req.query.start, 0);
    const rs = await clickhouse.query({
      query: `SELECT toUnixTimestamp64Milli(open_time) AS t, close,
                     if(empty({names:Array(String)}), values, mapFilter((k, v) -> has({names:Array(String)}, k), values)) AS vals
              FROM indicators FINAL
              WHERE symbol = {symbol:String} AND interval = {interval:String} AND exchange = {exchange:String}
                AND open_time >= fromUnixTimestamp64Milli({start:Int64}) AND open_time <= fromUnixTimestamp64Milli({end:Int64})
              ORDER BY open_time DESC LIMIT {limit:UInt32}`,
      query_params: { symbol, interval, exchange, names, start, end, limit: req.query.limit ?? INDICATOR_DEFAULT_LIMIT },
      format: 'JSONEachRow',
    });
    const rows = (await rs.json<{ t: string; close: number; vals: Record<string, number> }>()).reverse();
    const series = rows.map((r) => ({ open_time: new Date(Number(r.t)).toISOString(), close: r.close, values: r.vals }));
    return { symbol, exchange, interval, latest: series[series.length - 1] ?? null, series };
  });

  app.get('/:symbol/history', {
    schema: {
      tags: ['market'],
      summary: 'Historical ticks for a symbol (per exchange), oldest first',
      params: SymbolParams,
      querystring: Type.Object({
        exchange: Type.Optional(Type.String({ pattern: '^[a-z0-9_.-]{1,40}$', description: 'One exchange; default all' })),
        start: Type.Optional(TimeParam(`Earliest tick time; default end - ${HISTORY_DEFAULT_SPAN_MS / 60_000} min`)),
        end: Type.Optional(TimeParam('Latest tick time; default now')),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: HISTORY_MAX_LIMIT, default: HISTORY_DEFAULT_LIMIT, description: `Most recent ticks in the range (default ${HISTORY_DEFAULT_LIMIT}, max ${HISTORY_MAX_LIMIT})` })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ symbol: Type.String(), start: Type.String({ format: 'date-time' }), end: Type.String({ format: 'date-time' }), count: Type.Integer(), ticks: Type.Array(HistoryTick) }) },
    },
  }, async (req) => {
    const symbol = await known(req.params.symbol);
    const end = parseTime('end', req.query.end, Date.now());
    const start = parseTime('start', req.query.start, end - HISTORY_DEFAULT_SPAN_MS);
    if (start > end) throw new HttpError(400, 'querystring/start: must not be after end');
    const rs = await clickhouse.query({
      query: `SELECT exchange, toUnixTimestamp64Milli(event_time) AS t, last, bid, ask, base_volume, quote_volume
              FROM ticks FINAL
              WHERE symbol = {symbol:String} AND ({exchange:String} = '' OR exchange = {exchange:String})
                AND event_time >= fromUnixTimestamp64Milli({start:Int64}) AND event_time <= fromUnixTimestamp64Milli({end:Int64})
              ORDER BY event_time DESC LIMIT {limit:UInt32}`,
      query_params: { symbol, exchange: req.query.exchange ?? '', start, end, limit: req.query.limit ?? HISTORY_DEFAULT_LIMIT },
      format: 'JSONEachRow',
    });
    const rows = (await rs.json<{ exchange: string; t: string; last: number; bid: number | null; ask: number | null; base_volume: number | null; quote_volume: number | null }>()).reverse();
    return {
      symbol, start: new Date(start).toISOString(), end: new Date(end).toISOString(), count: rows.length,
      ticks: rows.map(({ t, ...r }) => ({ ...r, event_time: new Date(Number(t)).toISOString() })),
    };
  });
};
