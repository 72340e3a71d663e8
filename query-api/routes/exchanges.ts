// /api/v1/exchanges: per-exchange market data and exchange control. Reads come from latest_ticks
// (tickers), the one candle source (klines = the candles table, see candle-source.ts) and
// control_events (connection status, failover, command results). Control writes are Commands
// on control.commands.v1 for the exchange ingestors (admin only).
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { HttpError } from '../context.ts';
import { requireAdmin } from '../auth.ts';
import { parseSymbol, SymbolCatalog, SymbolParams } from '../symbols.ts';
import { CandleQuery, CandleSeries, readCandles } from '../candle-source.ts';
import { CommandEntitySchema, issueCommand } from '../commands.ts';
import { ComponentHealthSchema, HealthStatusSchema, worst, EXCHANGE_FRESHNESS } from '../health-model.ts';

const Num = Type.Union([Type.Number(), Type.Null()]);
const Ticker = Type.Object({
  symbol: Type.String(), exchange: Type.String(), last: Type.Number(), bid: Num, ask: Num, spread: Num,
  base_volume: Num, quote_volume: Num,
  event_time: Type.String({ format: 'date-time' }), age_ms: Type.Integer(), fresh: Type.Boolean({ description: `Newer than ${EXCHANGE_FRESHNESS.degradedMs / 1000} s` }),
});
interface TickRow { symbol: string; exchange: string; t: string; last: number; bid: number | null; ask: number | null; base_volume: number | null; quote_volume: number | null }

function toTicker(r: TickRow, now: number) {
  const age = Math.max(0, now - Number(r.t));
  return {
    symbol: r.symbol, exchange: r.exchange, last: r.last, bid: r.bid, ask: r.ask,
    spread: r.bid !== null && r.ask !== null ? r.ask - r.bid : null,
    base_volume: r.base_volume, quote_volume: r.quote_volume,
    event_time: new Date(Number(r.t)).toISOString(), age_ms: age, fresh: age <= EXCHANGE_FRESHNESS.degradedMs,
  };
}

/** Failover for reads: the freshest tick among the fresh exchanges (or the freshest at all), preferring the one asked for while it is fresh. */
export function pickTicker<T extends { exchange: string; age_ms: number; fresh: boolean }>(tickers: T[], preferred: string | null): { chosen: T | null; reason: string } {
  if (tickers.length === 0) return { chosen: null, reason: 'no ticks yet' };
  const pref = preferred ? tickers.find((t) => t.exchange === preferred) : undefined;
  if (pref?.fresh) return { chosen: pref, reason: `preferred exchange ${preferred} is fresh` };
  const sorted = [...tickers].sort((a, b) => a.age_ms - b.age_ms);
  const best = sorted.find((t) => t.fresh) ?? sorted[0]!;
  const why = preferred ? (pref ? `preferred exchange ${preferred} is stale (${pref.age_ms} ms); failed over to ${best.exchange}` : `preferred exchange ${preferred} has no ticks; failed over to ${best.exchange}`) : `freshest exchange ${best.exchange}`;
  return { chosen: best, reason: why };
}

const ExchangeName = Type.String({ pattern: '^[a-z0-9_.-]{1,40}$', description: 'Exchange id, e.g. binance' });

export const exchangesRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { clickhouse, config } = app.deps;
  const symbols = new SymbolCatalog(clickhouse, config.market.symbols);
  const known = async (raw: string) => { const s = parseSymbol(raw); await symbols.require(s); return s; };

  async function latest(symbolList: string[]): Promise<TickRow[]> {
    const rs = await clickhouse.query({
      query: `SELECT symbol, exchange, toUnixTimestamp64Milli(event_time) AS t, last, bid, ask, base_volume, quote_volume
              FROM latest_ticks FINAL WHERE empty({symbols:Array(String)}) OR has({symbols:Array(String)}, symbol)
              ORDER BY symbol, exchange`,
      query_params: { symbols: symbolList }, format: 'JSONEachRow',
    });
    return rs.json<TickRow>();
  }

  async function knownExchanges(): Promise<Set<string>> {
    const inputs = await app.monitoring.health.exchangeInputs();
    return new Set(inputs.map((i) => i.exchange));
  }

  app.get('/status', {
    schema: {
      tags: ['exchanges'], summary: 'Status of every configured or seen exchange: connection, freshness, failover and the last command results',
      response: {
        200: Type.Object({
          exchanges: Type.Array(Type.Object({
            exchange: Type.String(), status: HealthStatusSchema, reasons: Type.Array(Type.String()),
            connection: Type.Union([Type.String(), Type.Null()]), last_tick_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]), age_ms: Type.Union([Type.Integer(), Type.Null()]),
            symbols: Type.Array(Type.String()),
          })),
          failover: Type.Union([Type.Object({ enabled: Type.Boolean(), reported_at: Type.String({ format: 'date-time' }), detail: Type.Unknown() }), Type.Null()]),
          recent_commands: Type.Array(Type.Object({ command_id: Type.Union([Type.String(), Type.Null()]), source: Type.String(), at: Type.String({ format: 'date-time' }), result: Type.Unknown() })),
        }),
      },
    },
  }, async () => {
    const report = await app.monitoring.health.report();
    const feeds = report.components.filter((c) => c.kind === 'exchange');
    const rs = await clickhouse.query({ query: 'SELECT exchange, groupArray(symbol) AS symbols FROM (SELECT DISTINCT exchange, symbol FROM latest_ticks FINAL) GROUP BY exchange', format: 'JSONEachRow' });
    const symbolsBy = new Map((await rs.json<{ exchange: string; symbols: string[] }>()).map((r) => [r.exchange, r.symbols.sort()]));
    const fo = await clickhouse.query({
      query: `SELECT toUnixTimestamp64Milli(event_time) AS t, payload_json FROM control_events FINAL WHERE kind = 'failover.status' ORDER BY event_time DESC LIMIT 1`,
      format: 'JSONEachRow',
    });
    const [f] = await fo.json<{ t: string; payload_json: string }>();
    const cmds = await clickhouse.query({
      query: `SELECT command_id, source, toUnixTimestamp64Milli(event_time) AS t, payload_json FROM control_events FINAL WHERE kind = 'command.result' ORDER BY event_time DESC LIMIT 20`,
      format: 'JSONEachRow',
    });
    const parse = (s: string): unknown => { try { return JSON.parse(s); } catch { return s; } };
    const fp = f ? (parse(f.payload_json) as { enabled?: boolean }) : null;
    return {
      exchanges: feeds.map((c) => {
        const ex = c.name.slice('exchange:'.length);
        return { exchange: ex, status: c.status, reasons: c.reasons, connection: (c.details.connection as string | null) ?? null, last_tick_at: c.last_seen, age_ms: c.freshness_ms, symbols: symbolsBy.get(ex) ?? [] };
      }),
      failover: f && fp ? { enabled: Boolean(fp.enabled), reported_at: new Date(Number(f.t)).toISOString(), detail: fp } : null,
      recent_commands: (await cmds.json<{ command_id: string | null; source: string; t: string; payload_json: string }>()).map((r) => ({ command_id: r.command_id, source: r.source, at: new Date(Number(r.t)).toISOString(), result: parse(r.payload_json) })),
    };
  });

  app.get('/ticker/:symbol', {
    schema: {
      tags: ['exchanges'], summary: 'Current ticker for a symbol with automatic failover: the preferred exchange while fresh, else the freshest',
      params: SymbolParams,
      querystring: Type.Object({ exchange: Type.Optional(ExchangeName) }, { additionalProperties: false }),
      response: { 200: Type.Object({ symbol: Type.String(), ticker: Type.Union([Ticker, Type.Null()]), failover: Type.Object({ preferred: Type.Union([Type.String(), Type.Null()]), used: Type.Union([Type.String(), Type.Null()]), reason: Type.String() }), alternatives: Type.Array(Ticker) }) },
    },
  }, async (req) => {
    const symbol = await known(req.params.symbol);
    const now = Date.now();
    const tickers = (await latest([symbol])).map((r) => toTicker(r, now));
    const { chosen, reason } = pickTicker(tickers, req.query.exchange ?? null);
    return { symbol, ticker: chosen, failover: { preferred: req.query.exchange ?? null, used: chosen?.exchange ?? null, reason }, alternatives: tickers.filter((t) => t !== chosen) };
  });

  app.get('/tickers', {
    schema: {
      tags: ['exchanges'], summary: 'Tickers for several symbols (each with failover), default all known',
      querystring: Type.Object({ symbols: Type.Optional(Type.String({ maxLength: 2000, description: 'Comma-separated symbols; at most 100' })) }, { additionalProperties: false }),
      response: { 200: Type.Object({ tickers: Type.Array(Ticker), as_of: Type.String({ format: 'date-time' }) }) },
    },
  }, async (req) => {
    const wanted = req.query.symbols ? req.query.symbols.split(',').filter(Boolean).map(parseSymbol) : [];
    if (wanted.length > 100) throw new HttpError(400, 'querystring/symbols: at most 100 symbols');
    if (wanted.length) {
      const k = await symbols.known();
      const unknown = wanted.filter((s) => !k.has(s));
      if (unknown.length) throw new HttpError(404, `unknown symbol(s): ${unknown.join(', ')}`);
    }
    const now = Date.now();
    const by = new Map<string, ReturnType<typeof toTicker>[]>();
    for (const r of await latest(wanted)) by.set(r.symbol, [...(by.get(r.symbol) ?? []), toTicker(r, now)]);
    const tickers = [...by.values()].map((ts) => pickTicker(ts, null).chosen!).filter(Boolean);
    return { tickers, as_of: new Date(now).toISOString() };
  });

  app.get('/klines/:symbol', {
    schema: {
      tags: ['exchanges'], summary: 'Candles for a symbol from the one candle source (same as /market/candlestick); exchange=* for all exchanges',
      params: SymbolParams, querystring: CandleQuery, response: { 200: CandleSeries },
    },
  }, async (req) => readCandles(clickhouse, await known(req.params.symbol), req.query));

  app.get('/market-data/:symbol', {
    schema: {
      tags: ['exchanges'], summary: 'Market data aggregated across exchanges: best bid and ask, mean and volume-weighted price, spread between exchanges',
      params: SymbolParams,
      response: {
        200: Type.Object({
          symbol: Type.String(), exchanges: Type.Array(Ticker), exchange_count: Type.Integer(),
          best_bid: Type.Union([Type.Object({ exchange: Type.String(), price: Type.Number() }), Type.Null()]),
          best_ask: Type.Union([Type.Object({ exchange: Type.String(), price: Type.Number() }), Type.Null()]),
          mean_price: Num, vwap: Num, price_range: Num, total_base_volume: Num,
          as_of: Type.String({ format: 'date-time' }),
        }),
      },
    },
  }, async (req) => {
    const symbol = await known(req.params.symbol);
    const now = Date.now();
    const ts = (await latest([symbol])).map((r) => toTicker(r, now));
    const fresh = ts.filter((t) => t.fresh);
    const use = fresh.length ? fresh : ts;
    const bids = use.filter((t) => t.bid !== null).sort((a, b) => b.bid! - a.bid!);
    const asks = use.filter((t) => t.ask !== null).sort((a, b) => a.ask! - b.ask!);
    const vol = use.reduce((a, t) => a + (t.base_volume ?? 0), 0);
    const prices = use.map((t) => t.last);
    return {
      symbol, exchanges: ts, exchange_count: ts.length,
      best_bid: bids[0] ? { exchange: bids[0].exchange, price: bids[0].bid! } : null,
      best_ask: asks[0] ? { exchange: asks[0].exchange, price: asks[0].ask! } : null,
      mean_price: prices.length ? prices.reduce((a, b) => a + b, 0) / prices.length : null,
      vwap: vol > 0 ? use.reduce((a, t) => a + t.last * (t.base_volume ?? 0), 0) / vol : null,
      price_range: prices.length ? Math.max(...prices) - Math.min(...prices) : null,
      total_base_volume: use.some((t) => t.base_volume !== null) ? vol : null,
      as_of: new Date(now).toISOString(),
    };
  });

  app.get('/health', {
    schema: {
      tags: ['exchanges', 'health'], summary: 'Health of every exchange feed (the exchange slice of the one health model)',
      response: { 200: Type.Object({ status: HealthStatusSchema, checked_at: Type.String({ format: 'date-time' }), exchanges: Type.Array(ComponentHealthSchema) }) },
    },
  }, async () => {
    const h = await app.monitoring.health.report();
    const exchanges = h.components.filter((c) => c.kind === 'exchange');
    const status = exchanges.length && exchanges.every((c) => c.status === 'down') ? 'down' : worst(exchanges.map((c) => (c.status === 'down' ? 'degraded' : c.status)));
    return { status, checked_at: h.checked_at, exchanges };
  });

  // Control: admin only.
  await app.register(async (plain) => {
    const admin = plain.withTypeProvider<TypeBoxTypeProvider>();
    admin.addHook('preHandler', requireAdmin);

    admin.post('/reconnect/:exchange_name', {
      schema: {
        tags: ['exchanges'], summary: 'Reconnect an exchange (Command reconnect for exchange:<id>)', security: [{ bearer: [] }],
        params: Type.Object({ exchange_name: ExchangeName }),
        response: { 202: CommandEntitySchema },
      },
    }, async (req, reply) => {
      const ex = req.params.exchange_name;
      if (!(await knownExchanges()).has(ex)) throw new HttpError(404, `unknown exchange ${ex}`);
      return reply.code(202).send(await issueCommand(app.deps, `exchange:${ex}`, 'reconnect', {}, req.user!.id));
    });

    admin.post('/failover/enable', {
      schema: {
        tags: ['exchanges'], summary: 'Enable or disable automatic failover (Command failover.set for the ingestors)', security: [{ bearer: [] }],
        body: Type.Object({
          enabled: Type.Boolean(),
          failback_after_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000, description: 'How long the preferred exchange must be healthy before failing back' })),
        }, { additionalProperties: false }),
        response: { 202: CommandEntitySchema },
      },
    }, async (req, reply) => {
      const params: Record<string, unknown> = { enabled: req.body.enabled };
      if (req.body.failback_after_ms !== undefined) params.failbackAfterMs = req.body.failback_after_ms;
      return reply.code(202).send(await issueCommand(app.deps, 'ingest', 'failover.set', params, req.user!.id));
    });

    admin.post('/retry-config', {
      schema: {
        tags: ['exchanges'], summary: 'Configure retry (backoff) for one exchange or all (Command retry.set)', security: [{ bearer: [] }],
        body: Type.Object({
          exchange: Type.Optional(ExchangeName),
          base_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000, description: 'Ceiling of the first retry delay' })),
          cap_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600_000, description: 'No delay exceeds this' })),
          max_attempts: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, description: '0: never give up' })),
          multiplier: Type.Optional(Type.Number({ minimum: 1, maximum: 100 })),
        }, { additionalProperties: false, minProperties: 1 }),
        response: { 202: CommandEntitySchema },
      },
    }, async (req, reply) => {
      const b = req.body;
      if (b.base_ms !== undefined && b.cap_ms !== undefined && b.cap_ms < b.base_ms) throw new HttpError(400, 'body/cap_ms: must be >= base_ms');
      if (b.exchange && !(await knownExchanges()).has(b.exchange)) throw new HttpError(404, `unknown exchange ${b.exchange}`);
      const params: Record<string, unknown> = {};
      if (b.base_ms !== undefined) params.baseMs = b.base_ms;
      if (b.cap_ms !== undefined) params.capMs = b.cap_ms;
      if (b.max_attempts !== undefined) params.maxAttempts = b.max_attempts;
      if (b.multiplier !== undefined) params.multiplier = b.multiplier;
      if (Object.keys(params).length === 0) throw new HttpError(400, 'body: give at least one of base_ms, cap_ms, max_attempts, multiplier');
      return reply.code(202).send(await issueCommand(app.deps, b.exchange ? `exchange:${b.exchange}` : 'ingest', 'retry.set', params, req.user!.id));
    });
  });
};
