// A short-lived cache of serialized bodies for public market reads: dashboards poll the same
// URLs, and every miss is a FINAL query on a store that serializes them (chDB runs one query at
// a time per session). Only unauthenticated GETs of the listed prefixes, 200 answers, bounded in
// entries and age (API_READ_CACHE_MS, default 250 ms; 0 turns it off). User-scoped routes
// (alerts, anything sent with a token) are never cached.
import type { FastifyInstance } from 'fastify';

const CACHED_PREFIXES = [
  '/api/v1/market/',
  '/api/v1/exchanges/ticker/', '/api/v1/exchanges/tickers', '/api/v1/exchanges/klines/', '/api/v1/exchanges/market-data/',
  '/api/v1/signals/',
];
const MAX_ENTRIES = 2000;

interface Entry { at: number; body: string; type: string }

export function installReadCache(app: FastifyInstance, ttlMs: number): { hits: () => number; misses: () => number } {
  let hits = 0;
  let misses = 0;
  if (ttlMs <= 0) return { hits: () => 0, misses: () => 0 };
  const entries = new Map<string, Entry>();
  // Single flight: while one request fetches a URL, the others for it wait for that answer
  // instead of each running the same query (an expiring entry under load would stampede).
  const inflight = new Map<string, { done: Promise<void>; resolve: () => void }>();
  const finish = (url: string) => { inflight.get(url)?.resolve(); inflight.delete(url); };
  const cacheable = (method: string, url: string, auth: string | undefined) =>
    method === 'GET' && !auth && CACHED_PREFIXES.some((p) => url.startsWith(p)) && !url.startsWith('/api/v1/signals/backtest');

  // A preHandler registered after the rate limiter's: cached answers are still rate limited.
  app.addHook('preHandler', async (req, reply) => {
    if (!cacheable(req.method, req.url, req.headers.authorization)) return;
    let e = entries.get(req.url);
    let fresh = e !== undefined && Date.now() - e.at <= ttlMs;
    const pending = fresh ? undefined : inflight.get(req.url);
    if (pending) {
      const waitedFrom = Date.now();
      await Promise.race([pending.done, new Promise((r) => setTimeout(r, 5_000))]);
      e = entries.get(req.url);
      // The answer of the fetch it waited for is as fresh as it gets.
      fresh = e !== undefined && e.at >= waitedFrom;
    }
    if (e && fresh) {
      hits++;
      return reply.header('content-type', e.type).header('x-tickflow-cache', 'hit').send(e.body);
    }
    misses++;
    if (!inflight.has(req.url)) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => { resolve = r; });
      inflight.set(req.url, { done, resolve });
    }
  });
  // Whatever the fetch ended as (error, 404, aborted), the waiters go on and fetch themselves.
  app.addHook('onResponse', async (req) => { if (cacheable(req.method, req.url, req.headers.authorization)) finish(req.url); });
  app.addHook('onSend', async (req, reply, payload) => {
    if (reply.statusCode !== 200 || typeof payload !== 'string' || reply.getHeader('x-tickflow-cache') === 'hit') return payload;
    if (!cacheable(req.method, req.url, req.headers.authorization)) return payload;
    if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
    entries.delete(req.url);
    entries.set(req.url, { at: Date.now(), body: payload, type: String(reply.getHeader('content-type') ?? 'application/json') });
    finish(req.url);
    return payload;
  });
  return { hits: () => hits, misses: () => misses };
}
