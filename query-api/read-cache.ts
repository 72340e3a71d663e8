// A short-lived cache of serialized bodies for polled reads: dashboards poll the same URLs, and
// every miss is a FINAL query on a store that serializes them (chDB runs one query at a time per
// session). Bounded in entries and age (API_READ_CACHE_MS, default 250 ms; 0 turns it off); only
// 200 answers; single flight per entry.
// - Public market reads: unauthenticated GETs of the listed prefixes, one entry per URL.
// - A user's own alert reads (GET /api/v1/alerts...): one entry per verified user and URL, never
//   shared between users. Any alert write of that user (POST/PATCH/PUT/DELETE under
//   /api/v1/alerts) drops the user's entries when it starts and again when it answered, and an
//   answer fetched while a write of the user was in flight is not stored: after a write returns,
//   this instance's reads of that user see it. Writes through another API instance can be
//   missed for up to the cache age.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const CACHED_PREFIXES = [
  '/api/v1/market/',
  '/api/v1/exchanges/ticker/', '/api/v1/exchanges/tickers', '/api/v1/exchanges/klines/', '/api/v1/exchanges/market-data/',
  '/api/v1/signals/',
];
const USER_PREFIX = '/api/v1/alerts';
const MAX_ENTRIES = 2000;

interface Entry { at: number; body: string; type: string; user: string | null }

export function installReadCache(app: FastifyInstance, ttlMs: number): { hits: () => number; misses: () => number } {
  let hits = 0;
  let misses = 0;
  if (ttlMs <= 0) return { hits: () => 0, misses: () => 0 };
  const entries = new Map<string, Entry>();
  // Single flight: while one request fetches an entry, the others for it wait for that answer
  // instead of each running the same query (an expiring entry under load would stampede).
  const inflight = new Map<string, { done: Promise<void>; resolve: () => void }>();
  const finish = (key: string) => { inflight.get(key)?.resolve(); inflight.delete(key); };
  /** Per user: bumped by each write's start and end; writes in flight. */
  const generation = new Map<string, number>();
  const writing = new Map<string, number>();
  /** What the lookup found a request to be, so later hooks do not classify it again. */
  type Tracked = { write: string } | { key: string; user: string | null; generation: number; owner: boolean };
  const tracked = new WeakMap<FastifyRequest, Tracked>();

  const userOf = (req: FastifyRequest): string | null => (req as FastifyRequest & { user?: { id: string } | null }).user?.id ?? null;
  const isUserRoute = (url: string) => url === USER_PREFIX || url.startsWith(`${USER_PREFIX}/`) || url.startsWith(`${USER_PREFIX}?`);
  /** A user's alert write, a cacheable read (its key and user), or neither. */
  function classify(req: FastifyRequest): { write: string } | { key: string; user: string | null } | null {
    const url = req.url;
    if (isUserRoute(url)) {
      const user = userOf(req);
      if (!user) return null;
      if (req.method === 'GET') return { key: `user:${user}\n${url}`, user };
      return req.method === 'HEAD' ? null : { write: user };
    }
    if (req.method !== 'GET' || req.headers.authorization) return null;
    if (!CACHED_PREFIXES.some((p) => url.startsWith(p)) || url.startsWith('/api/v1/signals/backtest')) return null;
    return { key: url, user: null };
  }
  function invalidate(user: string): void {
    generation.set(user, (generation.get(user) ?? 0) + 1);
    for (const [key, e] of entries) if (e.user === user) entries.delete(key);
  }

  // A route-level preHandler appended after the rate limiter's (which @fastify/rate-limit also
  // adds per route, on onRoute): cached answers are still rate limited. App-level preHandlers
  // run before route-level ones, so this must not be an app-level hook.
  const lookup = async (req: FastifyRequest, reply: FastifyReply) => {
    const c = classify(req);
    if (!c) return;
    if ('write' in c) {
      writing.set(c.write, (writing.get(c.write) ?? 0) + 1);
      invalidate(c.write);
      tracked.set(req, c);
      return;
    }
    const { key } = c;
    let e = entries.get(key);
    let fresh = e !== undefined && Date.now() - e.at <= ttlMs;
    const pending = fresh ? undefined : inflight.get(key);
    if (pending) {
      const waitedFrom = Date.now();
      await Promise.race([pending.done, new Promise((r) => setTimeout(r, 5_000))]);
      e = entries.get(key);
      // The answer of the fetch it waited for is as fresh as it gets.
      fresh = e !== undefined && e.at >= waitedFrom;
    }
    if (e && fresh) {
      hits++;
      return reply.header('content-type', e.type).header('x-tickflow-cache', 'hit').send(e.body);
    }
    misses++;
    const owner = !inflight.has(key);
    if (owner) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => { resolve = r; });
      inflight.set(key, { done, resolve });
    }
    tracked.set(req, { ...c, generation: c.user ? (generation.get(c.user) ?? 0) : 0, owner });
  };
  app.addHook('onRoute', (route) => {
    const own = route.preHandler;
    route.preHandler = [...(Array.isArray(own) ? own : own ? [own] : []), lookup];
  });
  // Whatever the fetch ended as (error, 404, aborted), the waiters go on and fetch themselves.
  app.addHook('onResponse', async (req) => {
    const t = tracked.get(req);
    if (!t) return;
    if ('write' in t) {
      const left = (writing.get(t.write) ?? 1) - 1;
      if (left > 0) writing.set(t.write, left);
      else writing.delete(t.write);
      invalidate(t.write);
    } else if (t.owner) finish(t.key);
  });
  app.addHook('onSend', async (req, reply, payload) => {
    const t = tracked.get(req);
    if (!t || 'write' in t || reply.statusCode !== 200 || typeof payload !== 'string') return payload;
    // Fetched while one of the user's writes was in flight or after one began: maybe stale.
    if (t.user && (writing.has(t.user) || t.generation !== (generation.get(t.user) ?? 0))) return payload;
    if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
    entries.delete(t.key);
    entries.set(t.key, { at: Date.now(), body: payload, type: String(reply.getHeader('content-type') ?? 'application/json'), user: t.user });
    finish(t.key);
    return payload;
  });
  return { hits: () => hits, misses: () => misses };
}
