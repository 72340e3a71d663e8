// /api/v1/proxy: third-party data served from the latest stored snapshot (proxy_snapshots, written
// by the proxy ingestors), never by calling the provider per request. Each answer carries the
// snapshot's age and the source's state from its proxy.status control events; a source with no
// snapshot yet answers data: null. /proxy/health is the proxy slice of the one health model.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ComponentHealthSchema, HealthStatusSchema, worst, type ComponentHealth } from '../health-model.ts';

const PROXY_MAX_LIMIT = 500;

export const SnapshotSchema = Type.Object({
  source: Type.String(),
  resource: Type.String(),
  available: Type.Boolean({ description: 'False until the first snapshot is stored' }),
  data: Type.Unknown({ description: 'The normalized provider response (null before the first snapshot)' }),
  item_count: Type.Union([Type.Integer(), Type.Null()]),
  params: Type.Record(Type.String(), Type.String()),
  fetched_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  age_ms: Type.Union([Type.Integer(), Type.Null()]),
  source_status: HealthStatusSchema,
  source_state: Type.Union([Type.String(), Type.Null()], { description: 'ok, disabled, backoff or error, as the ingestor last reported' }),
  reasons: Type.Array(Type.String()),
});

const Limit = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PROXY_MAX_LIMIT, description: `When the data holds a list (items), its first n entries (max ${PROXY_MAX_LIMIT}); default all stored` })) }, { additionalProperties: false });

const ROUTES: Array<{ path: string; source: string; resource: string; summary: string }> = [
  { path: '/fear-greed', source: 'fear_greed', resource: 'index', summary: 'Alternative.me Fear & Greed Index (latest stored snapshot)' },
  { path: '/coinmarketcap/listings', source: 'coinmarketcap', resource: 'listings', summary: 'CoinMarketCap listings (latest stored snapshot)' },
  { path: '/coinmarketcap/quotes', source: 'coinmarketcap', resource: 'quotes', summary: 'CoinMarketCap quotes (latest stored snapshot)' },
  { path: '/whale-alert', source: 'whale_alert', resource: 'transactions', summary: 'Whale Alert large transactions (latest stored snapshot)' },
  { path: '/news', source: 'newsapi', resource: 'articles', summary: 'NewsAPI crypto articles (latest stored snapshot)' },
  { path: '/coingecko/markets', source: 'coingecko', resource: 'markets', summary: 'CoinGecko markets (latest stored snapshot)' },
  { path: '/coingecko/price', source: 'coingecko', resource: 'price', summary: 'CoinGecko simple price (latest stored snapshot)' },
];

export const proxyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { clickhouse } = app.deps;

  async function sourceHealth(source: string): Promise<ComponentHealth | undefined> {
    return (await app.monitoring.health.report()).components.find((c) => c.name === `proxy:${source}`);
  }

  for (const r of ROUTES) {
    app.get(r.path, { schema: { tags: ['proxy'], summary: r.summary, querystring: Limit, response: { 200: SnapshotSchema } } }, async (req) => {
      const rs = await clickhouse.query({
        query: `SELECT params, item_count, payload_json, toUnixTimestamp64Milli(event_time) AS t
                FROM proxy_snapshots FINAL WHERE source = {source:String} AND resource = {resource:String}
                ORDER BY event_time DESC LIMIT 1`,
        query_params: { source: r.source, resource: r.resource }, format: 'JSONEachRow',
      });
      const [row] = await rs.json<{ params: Record<string, string>; item_count: number; payload_json: string; t: string }>();
      const h = await sourceHealth(r.source);
      const base = { source: r.source, resource: r.resource, source_status: h?.status ?? 'down' as const, source_state: (h?.details.state as string | null | undefined) ?? null, reasons: h?.reasons ?? [] };
      if (!row) return { ...base, available: false, data: null, item_count: null, params: {}, fetched_at: null, age_ms: null };
      let data: unknown;
      try { data = JSON.parse(row.payload_json); } catch { data = row.payload_json; }
      // The ingestors normalize lists to {items: [...], ...}; limit cuts the list, not the envelope.
      const limit = req.query.limit;
      if (limit && Array.isArray(data)) data = data.slice(0, limit);
      else if (limit && data && typeof data === 'object' && Array.isArray((data as { items?: unknown }).items)) data = { ...(data as object), items: (data as { items: unknown[] }).items.slice(0, limit) };
      const t = Number(row.t);
      return { ...base, available: true, data, item_count: Number(row.item_count), params: row.params, fetched_at: new Date(t).toISOString(), age_ms: Math.max(0, Date.now() - t) };
    });
  }

  app.get('/health', {
    schema: {
      tags: ['proxy', 'health'], summary: 'Freshness, state and last error of every proxy source (the proxy slice of the one health model)',
      response: { 200: Type.Object({ status: HealthStatusSchema, checked_at: Type.String({ format: 'date-time' }), sources: Type.Array(ComponentHealthSchema) }) },
    },
  }, async () => {
    const h = await app.monitoring.health.report();
    const sources = h.components.filter((c) => c.kind === 'proxy');
    return { status: worst(sources.map((c) => c.status)), checked_at: h.checked_at, sources };
  });
};
