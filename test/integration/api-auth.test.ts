// Identity and roles against the running stack: alerts are per user (another user's alert and its
// trigger history are not found), every admin route refuses a user token with 403 and a missing
// token with 401, and a read right after a write sees it.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startPipeline, type Pipeline } from '../../bin/pipeline.ts';
import { testEnv, eventually, bearer } from '../support/env.ts';

/** Every admin route of the groups this API build owns (the ML group's are tested with it). */
const ADMIN_ROUTES: Array<[string, string, unknown?]> = [
  ['POST', '/api/v1/exchanges/reconnect/binance'],
  ['POST', '/api/v1/exchanges/failover/enable', { enabled: false }],
  ['POST', '/api/v1/exchanges/retry-config', { base_ms: 100 }],
  ['POST', '/api/v1/monitoring/slo/config/api_availability', { objective: 0.9 }],
  ['POST', '/api/v1/monitoring/slo/record', { slo: 'api_availability', good: 1, total: 1 }],
  ['POST', '/api/v1/monitoring/alerts/send', { title: 't', message: 'm' }],
  ['GET', '/api/v1/monitoring/crash-dumps'],
  ['POST', '/api/v1/monitoring/crash-dumps/generate'],
  ['POST', '/api/v1/monitoring/crash-dumps/memory'],
  ['POST', '/api/v1/monitoring/crash-dumps/performance', { duration_ms: 100 }],
  ['POST', '/api/v1/monitoring/telemetry/export'],
  ['POST', '/api/v1/monitoring/slo/export'],
  ['GET', '/api/v1/monitoring/logs'],
  ['POST', '/api/v1/sql', { query: 'SELECT 1' }],
];

describe('identity and roles', () => {
  const t = testEnv({ SYNTHETIC_TICKS_PER_SECOND: '20', MARKET_SYMBOLS: 'BTC/USDT', SYNTHETIC_EXCHANGES: 'binance' });
  let p: Pipeline;
  const alice = bearer(t, 'alice');
  const bob = bearer(t, 'bob');

  const call = (method: string, path: string, headers: Record<string, string>, body?: unknown) => fetch(`${p.apiUrl}${path}`, {
    method, headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body !== undefined ? JSON.stringify(body) : undefined,
  });

  beforeAll(async () => {
    p = await startPipeline(t.config, t.log);
    await eventually('a tick in ClickHouse', async () => ((await (await fetch(`${p.apiUrl}/api/v1/market/prices`)).json()) as { prices: unknown[] }).prices.length > 0);
  });
  afterAll(async () => {
    await p?.stop();
  });

  it('keeps alerts per user: bob cannot read, update, delete or see the history of alice\'s alert', async () => {
    const created = await call('POST', '/api/v1/alerts/', alice, { alert_type: 'price_below', symbol: 'BTC/USDT', params: { threshold: 1 } });
    expect(created.status).toBe(201);
    const alert = (await created.json()) as { alert_id: string; user_id: string };
    expect(alert.user_id).toBe('alice');
    const id = alert.alert_id;

    // Read right after the write: visible at once, to alice only.
    expect((await call('GET', `/api/v1/alerts/${id}`, alice)).status).toBe(200);
    expect(((await (await call('GET', '/api/v1/alerts/', alice)).json()) as { alerts: Array<{ alert_id: string }> }).alerts.map((a) => a.alert_id)).toContain(id);
    for (const [method, path, body] of [['GET', `/api/v1/alerts/${id}`], ['PUT', `/api/v1/alerts/${id}`, { note: 'mine now' }], ['DELETE', `/api/v1/alerts/${id}`], ['GET', `/api/v1/alerts/${id}/history`]] as Array<[string, string, unknown?]>) {
      const r = await call(method, path, bob, body);
      expect(r.status, `${method} ${path} as bob`).toBe(404);
    }
    const bobs = (await (await call('GET', '/api/v1/alerts/', bob)).json()) as { alerts: unknown[]; total: number };
    expect(bobs.alerts).toEqual([]);
    expect(bobs.total).toBe(0);
    expect(((await (await call('GET', '/api/v1/alerts/summary', bob)).json()) as { total: number }).total).toBe(0);

    // Bob's failed attempts changed nothing; alice's own update and delete are read back at once.
    const still = (await (await call('GET', `/api/v1/alerts/${id}`, alice)).json()) as { note: string | null };
    expect(still.note).toBeNull();
    expect((await call('PUT', `/api/v1/alerts/${id}`, alice, { note: 'updated' })).status).toBe(200);
    expect(((await (await call('GET', `/api/v1/alerts/${id}`, alice)).json()) as { note: string }).note).toBe('updated');
    expect((await call('DELETE', `/api/v1/alerts/${id}`, alice)).status).toBe(200);
    expect((await call('GET', `/api/v1/alerts/${id}`, alice)).status).toBe(404);
    // Her list (read before the delete, so cached then) no longer shows it: her write dropped her cache.
    expect(((await (await call('GET', '/api/v1/alerts/', alice)).json()) as { alerts: Array<{ alert_id: string }> }).alerts.map((a) => a.alert_id)).not.toContain(id);
    expect((await call('GET', `/api/v1/alerts/${id}/history`, alice)).status).toBe(200);
    expect((await call('GET', `/api/v1/alerts/${id}/history`, bob)).status).toBe(404);
  });

  it('validates alert input with a message naming the field, and 404s an unknown symbol', async () => {
    const bad = await call('POST', '/api/v1/alerts/', alice, { alert_type: 'price_above', symbol: 'BTC/USDT', params: { treshold: 5 } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('threshold');
    const unknown = await call('POST', '/api/v1/alerts/', alice, { alert_type: 'price_above', symbol: 'DOGE/USDT', params: { threshold: 5 } });
    expect(unknown.status).toBe(404);
  });

  it('refuses alerts without credentials (401) and with a bad token (401)', async () => {
    expect((await call('GET', '/api/v1/alerts/', {})).status).toBe(401);
    expect((await call('POST', '/api/v1/alerts/', {}, { alert_type: 'price_above', symbol: 'BTC/USDT', params: { threshold: 5 } })).status).toBe(401);
    expect((await call('GET', '/api/v1/alerts/types', { authorization: 'Bearer x.y.z' })).status).toBe(401);
  });

  it('answers 401 without credentials and 403 to a user on every admin route', async () => {
    for (const [method, path, body] of ADMIN_ROUTES) {
      expect((await call(method, path, {}, body)).status, `${method} ${path} without token`).toBe(401);
      expect((await call(method, path, alice, body)).status, `${method} ${path} as user`).toBe(403);
    }
    // And the admin gets through (so the 403s above are about the role, not the route).
    const ok = await call('POST', '/api/v1/exchanges/failover/enable', bearer(t, 'root', 'admin'), { enabled: false });
    expect(ok.status).toBe(202);
    const cmd = (await ok.json()) as { id: string; status: string; target: string; command: string; projected: boolean };
    expect(cmd).toMatchObject({ status: 'accepted', target: 'ingest', command: 'failover.set', projected: true });
    const rs = await p.store!.client.query({ query: 'SELECT requested_by, params_json FROM commands FINAL WHERE event_id = {id:String}', query_params: { id: cmd.id }, format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ requested_by: 'root', params_json: '{"enabled":false}' }]);
  });

  it('never logs the bearer token', async () => {
    const token = alice.authorization!.split(' ')[1]!;
    await call('GET', '/api/v1/alerts/', alice);
    const logs = await call('GET', '/api/v1/monitoring/logs?level=trace&limit=2000', bearer(t, 'root', 'admin'));
    expect(logs.status).toBe(200);
    expect(await logs.text()).not.toContain(token);
  });
});
