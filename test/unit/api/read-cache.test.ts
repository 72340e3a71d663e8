import { describe, it, expect } from 'vitest';
import Fastify from 'fastify';
import { installReadCache } from '../../../query-api/read-cache.ts';

async function appWith(ttlMs: number) {
  const app = Fastify();
  let calls = 0;
  installReadCache(app, ttlMs);
  app.get('/api/v1/market/prices', async () => ({ n: ++calls }));
  app.get('/api/v1/market/missing', async (_req, reply) => { calls++; return reply.code(404).send({ error: 'no' }); });
  app.get('/api/v1/alerts/', async () => ({ n: ++calls }));
  await app.ready();
  return { app, calls: () => calls };
}

describe('read cache', () => {
  it('serves a repeated public GET from the cache within its age, and fetches again after it', async () => {
    const { app, calls } = await appWith(200);
    const a = await app.inject({ url: '/api/v1/market/prices' });
    const b = await app.inject({ url: '/api/v1/market/prices' });
    expect(a.json()).toEqual({ n: 1 });
    expect(b.json()).toEqual({ n: 1 });
    expect(b.headers['x-tickflow-cache']).toBe('hit');
    expect(b.headers['content-type']).toMatch(/application\/json/);
    await new Promise((r) => setTimeout(r, 250));
    expect((await app.inject({ url: '/api/v1/market/prices' })).json()).toEqual({ n: 2 });
    expect(calls()).toBe(2);
    // Another query string is another entry.
    expect((await app.inject({ url: '/api/v1/market/prices?symbols=BTC-USDT' })).json()).toEqual({ n: 3 });
  });

  it('never caches public routes sent with a token, errors, unauthenticated alert reads, or when turned off', async () => {
    const { app, calls } = await appWith(10_000);
    await app.inject({ url: '/api/v1/market/prices', headers: { authorization: 'Bearer x' } });
    await app.inject({ url: '/api/v1/market/prices', headers: { authorization: 'Bearer x' } });
    expect(calls()).toBe(2);
    await app.inject({ url: '/api/v1/market/missing' });
    await app.inject({ url: '/api/v1/market/missing' });
    expect(calls()).toBe(4);
    await app.inject({ url: '/api/v1/alerts/' });
    await app.inject({ url: '/api/v1/alerts/' });
    expect(calls()).toBe(6);
    const off = await appWith(0);
    await off.app.inject({ url: '/api/v1/market/prices' });
    await off.app.inject({ url: '/api/v1/market/prices' });
    expect(off.calls()).toBe(2);
  });
});

describe('read cache single flight', () => {
  it('runs one fetch for concurrent misses of the same URL', async () => {
    const app = Fastify();
    let calls = 0;
    installReadCache(app, 1000);
    app.get('/api/v1/market/slow', async () => { calls++; await new Promise((r) => setTimeout(r, 100)); return { n: calls }; });
    await app.ready();
    const answers = await Promise.all(Array.from({ length: 20 }, () => app.inject({ url: '/api/v1/market/slow' })));
    expect(calls).toBe(1);
    expect(answers.every((a) => a.statusCode === 200 && a.json().n === 1)).toBe(true);
  });
});

describe('read cache for a user\'s alert reads', () => {
  async function alertsApp() {
    const app = Fastify();
    const calls: Record<string, number> = {};
    let releaseWrite: (() => void) | null = null;
    app.decorateRequest('user', null);
    // Stands in for identify(): the verified user of the request.
    app.addHook('onRequest', async (req) => { const id = req.headers['x-user']; (req as unknown as { user: unknown }).user = typeof id === 'string' ? { id, role: 'user' } : null; });
    installReadCache(app, 10_000);
    app.get('/api/v1/alerts', async (req) => { const u = String(req.headers['x-user']); calls[u] = (calls[u] ?? 0) + 1; return { user: u, n: calls[u] }; });
    app.post('/api/v1/alerts', async () => { if (releaseWrite === null) await new Promise<void>((r) => { releaseWrite = r; }); return { ok: true }; });
    await app.ready();
    const get = async (user: string) => (await app.inject({ url: '/api/v1/alerts', headers: { 'x-user': user } })).json() as { user: string; n: number };
    return { app, calls, get, release: () => releaseWrite?.(), armWrite: () => { releaseWrite = null; }, skipWait: () => { releaseWrite = () => undefined; } };
  }

  it('keeps one entry per user, never shares it, and drops only the writer\'s entries on a write', async () => {
    const a = await alertsApp();
    expect(await a.get('alice')).toEqual({ user: 'alice', n: 1 });
    expect(await a.get('alice')).toEqual({ user: 'alice', n: 1 });
    expect(await a.get('bob')).toEqual({ user: 'bob', n: 1 });
    a.skipWait();
    expect((await a.app.inject({ method: 'POST', url: '/api/v1/alerts', headers: { 'x-user': 'alice' }, payload: {} })).statusCode).toBe(200);
    expect(await a.get('alice')).toEqual({ user: 'alice', n: 2 });
    expect(await a.get('bob')).toEqual({ user: 'bob', n: 1 });
    expect(await a.get('alice')).toEqual({ user: 'alice', n: 2 });
  });

  it('does not store a read answered while the user\'s write is in flight', async () => {
    const a = await alertsApp();
    a.armWrite();
    const write = a.app.inject({ method: 'POST', url: '/api/v1/alerts', headers: { 'x-user': 'alice' }, payload: {} });
    await new Promise((r) => setTimeout(r, 20));
    expect(await a.get('alice')).toEqual({ user: 'alice', n: 1 });
    expect(await a.get('alice')).toEqual({ user: 'alice', n: 2 }); // not served from the cache
    a.release();
    await write;
    expect(await a.get('alice')).toEqual({ user: 'alice', n: 3 });
    expect(await a.get('alice')).toEqual({ user: 'alice', n: 3 }); // cached again
  });
});
