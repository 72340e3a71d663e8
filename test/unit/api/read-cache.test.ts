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

  it('never caches requests with a token, errors, user-scoped routes, or when turned off', async () => {
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
