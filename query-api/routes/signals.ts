// /api/v1/signals: strategy signals from the signals table, a per-interval summary, and the
// strategy catalogue. (POST /signals/backtest lives in routes/signals-backtest.ts.)
import { Literals } from '../schema-literals.ts';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { HttpError } from '../context.ts';
import { parseSymbol, SymbolCatalog, SymbolParams } from '../symbols.ts';
import { ExchangeParam, parseTime, TimeParam } from '../candle-source.ts';
import { strategyCatalogue } from '../../processors/signals/strategy-registry.ts';
import { INTERVALS } from '../../schemas/topics.ts';

const SIGNALS_DEFAULT_LIMIT = 100;
const SIGNALS_MAX_LIMIT = 1000;
const IntervalLit = Literals(INTERVALS);
const Side = Type.Union([Type.Literal('BUY'), Type.Literal('SELL'), Type.Literal('HOLD')]);

const SignalSchema = Type.Object({
  strategy: Type.String(), interval: Type.String(), exchange: Type.String(), side: Type.String(),
  strength: Type.Number(), price: Type.Number(), reasons: Type.Array(Type.String()),
  open_time: Type.String({ format: 'date-time' }), event_time: Type.String({ format: 'date-time' }),
});
interface SignalRow { strategy: string; interval: string; exchange: string; side: string; strength: number; price: number; reasons: string[]; o: string; t: string }
const toSignal = ({ o, t, ...r }: SignalRow) => ({ ...r, open_time: new Date(Number(o)).toISOString(), event_time: new Date(Number(t)).toISOString() });

/** Consensus of the latest signal per strategy: strength-weighted BUY minus SELL, in [-1, 1]. */
export function consensus(latest: Array<{ side: string; strength: number }>): { side: 'BUY' | 'SELL' | 'HOLD'; score: number; buy: number; sell: number; hold: number } {
  const buy = latest.filter((s) => s.side === 'BUY');
  const sell = latest.filter((s) => s.side === 'SELL');
  const hold = latest.length - buy.length - sell.length;
  if (latest.length === 0) return { side: 'HOLD', score: 0, buy: 0, sell: 0, hold: 0 };
  const score = (buy.reduce((a, s) => a + s.strength, 0) - sell.reduce((a, s) => a + s.strength, 0)) / latest.length;
  const side = score > 0.1 ? 'BUY' : score < -0.1 ? 'SELL' : 'HOLD';
  return { side, score: Math.round(score * 1e4) / 1e4, buy: buy.length, sell: sell.length, hold };
}

export const signalsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { clickhouse, config } = app.deps;
  const symbols = new SymbolCatalog(clickhouse, config.market.symbols);
  const known = async (raw: string) => { const s = parseSymbol(raw); await symbols.require(s); return s; };

  app.get('/strategies', {
    schema: {
      tags: ['signals'], summary: 'Trading strategies the signal processor and the backtester know, with their parameters',
      response: {
        200: Type.Object({
          strategies: Type.Array(Type.Object({
            name: Type.String(), description: Type.String(),
            params: Type.Array(Type.Object({
              name: Type.String(), type: Type.String(), description: Type.String(),
              default: Type.Union([Type.Number(), Type.String()]),
              min: Type.Optional(Type.Number()), max: Type.Optional(Type.Number()), options: Type.Optional(Type.Array(Type.String())),
            })),
          })),
        }),
      },
    },
  }, async () => ({
    strategies: strategyCatalogue().map((s) => ({
      name: s.name, description: s.description,
      params: s.params.map((p) => (p.type === 'enum'
        ? { name: p.name, type: p.type, description: p.description, default: p.default, options: [...p.options] }
        : { name: p.name, type: p.type, description: p.description, default: p.default, min: p.min, max: p.max })),
    })),
  }));

  app.get('/summary/:symbol', {
    schema: {
      tags: ['signals'], summary: 'Signal summary across all timeframes: the latest signal per strategy and the consensus per interval',
      params: SymbolParams,
      querystring: Type.Object({ exchange: Type.Optional(ExchangeParam) }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          symbol: Type.String(), exchange: Type.String(),
          overall: Type.Object({ side: Side, score: Type.Number(), buy: Type.Integer(), sell: Type.Integer(), hold: Type.Integer() }),
          intervals: Type.Array(Type.Object({
            interval: Type.String(),
            consensus: Type.Object({ side: Side, score: Type.Number(), buy: Type.Integer(), sell: Type.Integer(), hold: Type.Integer() }),
            latest: Type.Array(SignalSchema),
          })),
        }),
      },
    },
  }, async (req) => {
    const symbol = await known(req.params.symbol);
    const exchange = req.query.exchange ?? '*';
    const rs = await clickhouse.query({
      query: `SELECT strategy, interval, exchange, argMax(side, open_time) AS side, argMax(strength, open_time) AS strength, argMax(price, open_time) AS price,
                     argMax(reasons, open_time) AS reasons, toUnixTimestamp64Milli(max(open_time)) AS o, toUnixTimestamp64Milli(argMax(event_time, open_time)) AS t
              FROM signals FINAL WHERE symbol = {symbol:String} AND exchange = {exchange:String}
              GROUP BY strategy, interval, exchange ORDER BY interval, strategy`,
      query_params: { symbol, exchange }, format: 'JSONEachRow',
    });
    const rows = (await rs.json<SignalRow>()).map(toSignal);
    const intervals = INTERVALS.filter((iv) => rows.some((r) => r.interval === iv)).map((interval) => {
      const latest = rows.filter((r) => r.interval === interval);
      return { interval, consensus: consensus(latest), latest };
    });
    return { symbol, exchange, overall: consensus(rows), intervals };
  });

  app.get('/:symbol', {
    schema: {
      tags: ['signals'], summary: 'Trading signals for a symbol, newest first',
      params: SymbolParams,
      querystring: Type.Object({
        interval: Type.Optional(IntervalLit),
        strategy: Type.Optional(Type.String({ pattern: '^[a-z0-9_]{1,64}$' })),
        exchange: Type.Optional(ExchangeParam),
        side: Type.Optional(Side),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: SIGNALS_MAX_LIMIT, default: SIGNALS_DEFAULT_LIMIT, description: `Default ${SIGNALS_DEFAULT_LIMIT}, max ${SIGNALS_MAX_LIMIT}` })),
        start: Type.Optional(TimeParam('Earliest candle open time')),
        end: Type.Optional(TimeParam('Latest candle open time; default now')),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ symbol: Type.String(), signals: Type.Array(SignalSchema) }) },
    },
  }, async (req) => {
    const symbol = await known(req.params.symbol);
    const q = req.query;
    if (q.strategy && !strategyCatalogue().some((s) => s.name === q.strategy)) throw new HttpError(400, `querystring/strategy: unknown strategy "${q.strategy}"`);
    const end = parseTime('end', q.end, Date.now());
    const start = parseTime('start', q.start, 0);
    const rs = await clickhouse.query({
      query: `SELECT strategy, interval, exchange, side, strength, price, reasons, toUnixTimestamp64Milli(open_time) AS o, toUnixTimestamp64Milli(event_time) AS t
              FROM signals FINAL
              WHERE symbol = {symbol:String} AND exchange = {exchange:String}
                AND ({interval:String} = '' OR interval = {interval:String})
                AND ({strategy:String} = '' OR strategy = {strategy:String})
                AND ({side:String} = '' OR side = {side:String})
                AND open_time >= fromUnixTimestamp64Milli({start:Int64}) AND open_time <= fromUnixTimestamp64Milli({end:Int64})
              ORDER BY open_time DESC, strategy LIMIT {limit:UInt32}`,
      query_params: { symbol, exchange: q.exchange ?? '*', interval: q.interval ?? '', strategy: q.strategy ?? '', side: q.side ?? '', start, end, limit: q.limit ?? SIGNALS_DEFAULT_LIMIT },
      format: 'JSONEachRow',
    });
    return { symbol, signals: (await rs.json<SignalRow>()).map(toSignal) };
  });
};
