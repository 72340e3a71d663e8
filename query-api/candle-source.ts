// The one candle source behind /market/candlestick/{symbol} and /exchanges/klines/{symbol}: the
// `candles` table the candle processor writes (per exchange, or '*' across all exchanges).
// Exchange-provided klines (`klines`) are an ingest input, not a second source of candles.
import { Literals } from './schema-literals.ts';
import type { ClickHouseClient } from '@clickhouse/client';
import { Type, type Static } from '@sinclair/typebox';
import { INTERVALS } from '../schemas/topics.ts';
import { HttpError } from './context.ts';

export const CANDLE_DEFAULT_LIMIT = 500;
export const CANDLE_MAX_LIMIT = 1000;

export const IntervalParam = Literals(INTERVALS, { default: '1m', description: `Candle interval: ${INTERVALS.join(', ')}` });
export const ExchangeParam = Type.String({ default: '*', pattern: '^(\\*|[a-z0-9_.-]{1,40})$', description: "Exchange id, or * for the candle over all exchanges (default)" });
/** ISO 8601 or epoch milliseconds. */
export const TimeParam = (what: string) => Type.String({ maxLength: 40, description: `${what}: ISO 8601 time or epoch milliseconds` });

export const CandleQuery = Type.Object({
  interval: Type.Optional(IntervalParam),
  exchange: Type.Optional(ExchangeParam),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: CANDLE_MAX_LIMIT, default: CANDLE_DEFAULT_LIMIT, description: `Most recent candles to return (default ${CANDLE_DEFAULT_LIMIT}, max ${CANDLE_MAX_LIMIT})` })),
  start: Type.Optional(TimeParam('Earliest open time (inclusive)')),
  end: Type.Optional(TimeParam('Latest open time (inclusive); default now')),
  final_only: Type.Optional(Type.Boolean({ default: false, description: 'Only closed candles' })),
}, { additionalProperties: false });
export type CandleQuery = Static<typeof CandleQuery>;

export const CandleSchema = Type.Object({
  open_time: Type.String({ format: 'date-time' }),
  close_time: Type.String({ format: 'date-time' }),
  open: Type.Number(), high: Type.Number(), low: Type.Number(), close: Type.Number(),
  volume: Type.Number(),
  trades: Type.Integer(),
  is_final: Type.Boolean(),
});

export const CandleSeries = Type.Object({
  symbol: Type.String(),
  exchange: Type.String(),
  interval: Type.String(),
  source: Type.Literal('candles'),
  candles: Type.Array(CandleSchema),
});
export type CandleSeries = Static<typeof CandleSeries>;

/** Parses an ISO time or epoch ms; throws with the field name for a 400. */
export function parseTime(field: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(n)) throw new HttpError(400, `querystring/${field}: "${raw}" is not an ISO 8601 time or epoch milliseconds`);
  return n;
}

export async function readCandles(client: ClickHouseClient, symbol: string, q: CandleQuery, now = Date.now()): Promise<CandleSeries> {
  const interval = q.interval ?? '1m';
  const exchange = q.exchange ?? '*';
  const limit = q.limit ?? CANDLE_DEFAULT_LIMIT;
  const end = parseTime('end', q.end, now);
  const start = parseTime('start', q.start, 0);
  if (start > end) throw new HttpError(400, 'querystring/start: must not be after end');
  const rs = await client.query({
    query: `SELECT toUnixTimestamp64Milli(open_time) AS o, toUnixTimestamp64Milli(close_time) AS c, open, high, low, close, volume, trades, is_final
            FROM candles FINAL
            WHERE symbol = {symbol:String} AND interval = {interval:String} AND exchange = {exchange:String}
              AND open_time >= fromUnixTimestamp64Milli({start:Int64}) AND open_time <= fromUnixTimestamp64Milli({end:Int64})
              AND ({final_only:Bool} = false OR is_final)
            ORDER BY open_time DESC LIMIT {limit:UInt32}`,
    query_params: { symbol, interval, exchange, start, end, limit, final_only: q.final_only ?? false },
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ o: string; c: string; open: number; high: number; low: number; close: number; volume: number; trades: string; is_final: boolean }>();
  return {
    symbol, exchange, interval, source: 'candles',
    candles: rows.reverse().map((r) => ({
      open_time: new Date(Number(r.o)).toISOString(), close_time: new Date(Number(r.c)).toISOString(),
      open: r.open, high: r.high, low: r.low, close: r.close, volume: r.volume, trades: Number(r.trades), is_final: Boolean(r.is_final),
    })),
  };
}
