// The end-to-end slice on real services: synthetic ticks -> Avro on Kafka -> ClickHouse (chDB)
// -> GET /api/v1/market/prices, and ticks fanned out on /api/v1/ws.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import WebSocket from 'ws';
import { startPipeline, type Pipeline } from '../../bin/pipeline.ts';
import { testEnv, eventually, bearer } from '../support/env.ts';

describe('end-to-end slice', () => {
  const t = testEnv({ SYNTHETIC_TICKS_PER_SECOND: '60', MARKET_SYMBOLS: 'BTC/USDT,ETH/USDT', SYNTHETIC_EXCHANGES: 'binance,kraken' });
  let p: Pipeline;

  beforeAll(async () => {
    p = await startPipeline(t.config, t.log);
  });
  afterAll(async () => {
    await p?.stop();
  });

  it('serves fresh prices for every symbol from ClickHouse', async () => {
    const body = await eventually('prices for both symbols', async () => {
      const r = await fetch(`${p.apiUrl}/api/v1/market/prices`);
      const b = (await r.json()) as { prices: Array<{ symbol: string; price: number; age_ms: number; exchanges: unknown[] }> };
      return b.prices.length === 2 && b.prices.every((x) => x.exchanges.length === 2) ? b : null;
    });
    expect(body.prices.map((x) => x.symbol).sort()).toEqual(['BTC/USDT', 'ETH/USDT']);
    for (const x of body.prices) {
      expect(x.price).toBeGreaterThan(0);
      expect(x.age_ms).toBeLessThan(30_000);
    }
    // The same ticks are in the ticks table, once each.
    const rs = await p.store!.client.query({ query: 'SELECT count() AS n, uniqExact(event_id) AS u FROM ticks FINAL', format: 'JSONEachRow' });
    const [row] = await rs.json<{ n: string; u: string }>();
    expect(Number(row!.n)).toBeGreaterThan(0);
    expect(Number(row!.n)).toBe(Number(row!.u));
  });

  it('filters by symbol, answers 404 for an unknown one and 400 for garbage', async () => {
    const one = (await (await fetch(`${p.apiUrl}/api/v1/market/prices?symbols=ETH-USDT`)).json()) as { prices: Array<{ symbol: string }> };
    expect(one.prices.map((x) => x.symbol)).toEqual(['ETH/USDT']);
    const unknown = await fetch(`${p.apiUrl}/api/v1/market/prices?symbols=DOGE-USDT`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toContain('DOGE/USDT');
    const bad = await fetch(`${p.apiUrl}/api/v1/market/prices?symbols=${encodeURIComponent("x'; DROP TABLE ticks")}`);
    expect(bad.status).toBe(400);
  });

  it('pushes the ticks of a subscribed symbol to a WebSocket client, and only those', async () => {
    const ws = new WebSocket(`${p.apiUrl!.replace('http', 'ws')}/api/v1/ws`);
    const frames: Array<{ op: string; channel?: string; data?: { symbol: string; exchange: string; event_time: number }; message?: string }> = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
    await new Promise((r) => ws.once('open', r));
    ws.send('not json');
    ws.send(JSON.stringify({ op: 'subscribe', channel: 'ticks', symbol: 'BTC-USDT' }));
    await eventually('5 BTC ticks', async () => frames.filter((f) => f.op === 'event').length >= 5);
    ws.close();
    expect(frames.find((f) => f.op === 'error')?.message).toBe('message is not JSON');
    expect(frames.some((f) => f.op === 'subscribed' && f.channel === 'ticks:BTC/USDT')).toBe(true);
    const events = frames.filter((f) => f.op === 'event');
    expect(events.every((f) => f.channel === 'ticks:BTC/USDT' && f.data!.symbol === 'BTC/USDT')).toBe(true);
    // Per market (one partition) the order is the produce order.
    for (const ex of ['binance', 'kraken']) {
      const times = events.filter((f) => f.data!.exchange === ex).map((f) => f.data!.event_time);
      expect([...times].sort((a, b) => a - b)).toEqual(times);
    }
    const info = (await (await fetch(`${p.apiUrl}/api/v1/ws/info`)).json()) as { delivered_total: number };
    expect(info.delivered_total).toBeGreaterThanOrEqual(5);
  });

  it('runs analyst SQL read-only, for admins only', async () => {
    const sql = (headers: Record<string, string>) => fetch(`${p.apiUrl}/api/v1/sql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query: 'SELECT 1' }) });
    expect((await sql({})).status).toBe(401);
    expect((await sql(bearer(t, 'alice'))).status).toBe(403);
    expect((await sql({ authorization: 'Bearer not.a.token' })).status).toBe(401);
    const admin = { 'content-type': 'application/json', ...bearer(t, 'root', 'admin') };
    const ok = await fetch(`${p.apiUrl}/api/v1/sql`, { method: 'POST', headers: admin, body: JSON.stringify({ query: 'SELECT count() AS n FROM ticks WHERE symbol = {s:String}', params: { s: 'BTC/USDT' } }) });
    expect(ok.status).toBe(200);
    expect(Number(((await ok.json()) as { rows: Array<{ n: string }> }).rows[0]!.n)).toBeGreaterThan(0);
    for (const query of ["INSERT INTO ticks (event_id) VALUES ('x')", 'DROP TABLE ticks', 'SET readonly = 0']) {
      const r = await fetch(`${p.apiUrl}/api/v1/sql`, { method: 'POST', headers: admin, body: JSON.stringify({ query }) });
      expect(r.status, query).toBe(400);
    }
    // The sink still writes after analysts tried (their session is not the sink's).
    const before = Number((await (await p.store!.client.query({ query: 'SELECT count() AS n FROM ticks', format: 'JSONEachRow' })).json<{ n: string }>())[0]!.n);
    await eventually('more ticks after the refused writes', async () => Number((await (await p.store!.client.query({ query: 'SELECT count() AS n FROM ticks', format: 'JSONEachRow' })).json<{ n: string }>())[0]!.n) > before);
  });
});
