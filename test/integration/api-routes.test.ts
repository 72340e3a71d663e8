// Walks the seed's route table against the running stack: every route of the groups this API
// build owns is called with valid input (admin token where needed); none may answer 404 or 5xx,
// and each answer must match the response schema the route declares in the served OpenAPI.
// The ML group (train, backtest, models, artifacts), predictions and /signals/backtest are owned
// by another plugin set and left out of this walk (listed in OWNED_ELSEWHERE below).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startPipeline, type Pipeline } from '../../bin/pipeline.ts';
import { testEnv, eventually, bearer } from '../support/env.ts';
import { ownedElsewhere, responseValidator, seedRoutes, type SeedRoute } from '../support/seed-routes.ts';

const BODIES: Record<string, unknown> = {
  'POST /api/v1/alerts/': { alert_type: 'price_above', symbol: 'BTC-USDT', params: { threshold: 1_000_000 }, note: 'walk' },
  'PUT /api/v1/alerts/{alert_id}': { note: 'walked', cooldown_ms: 60_000 },
  'POST /api/v1/exchanges/failover/enable': { enabled: true },
  'POST /api/v1/exchanges/retry-config': { base_ms: 500, cap_ms: 20_000 },
  'POST /api/v1/monitoring/slo/config/{slo_name}': { objective: 0.995 },
  'POST /api/v1/monitoring/slo/record': { slo: 'api_availability', good: 99, total: 100 },
  'POST /api/v1/monitoring/alerts/send': { severity: 'warning', title: 'route walk', message: 'sent by the route walk test' },
  'POST /api/v1/monitoring/crash-dumps/performance': { duration_ms: 200 },
};

describe('seed route table', () => {
  const t = testEnv({ SYNTHETIC_TICKS_PER_SECOND: '40', MARKET_SYMBOLS: 'BTC/USDT,ETH/USDT', SYNTHETIC_EXCHANGES: 'binance,kraken' });
  let p: Pipeline;
  let openapi: Parameters<typeof responseValidator>[0];
  const routes = seedRoutes();
  const walk = routes.filter((r) => r.method !== 'WS' && !ownedElsewhere(r));
  const OWNED_ELSEWHERE = routes.filter(ownedElsewhere).map((r) => `${r.method} ${r.path}`);

  beforeAll(async () => {
    p = await startPipeline(t.config, t.log);
    await eventually('ticks in ClickHouse', async () => {
      const b = (await (await fetch(`${p.apiUrl}/api/v1/market/prices`)).json()) as { prices: unknown[] };
      return b.prices.length === 2;
    });
    openapi = (await (await fetch(`${p.apiUrl}/api/v1/openapi.json`)).json()) as typeof openapi;
  });
  afterAll(async () => {
    await p?.stop();
  });

  it('parses the whole seed table, and names what this walk leaves to the ML plugins', () => {
    expect(routes.length).toBeGreaterThanOrEqual(60);
    expect(walk.length).toBe(routes.length - OWNED_ELSEWHERE.length - routes.filter((r) => r.method === 'WS').length);
    expect(OWNED_ELSEWHERE.sort()).toEqual([
      'GET /api/v1/artifacts', 'GET /api/v1/backtest/status', 'GET /api/v1/models', 'GET /api/v1/models/{model_id}/metrics',
      'GET /api/v1/predictions/train/status', 'GET /api/v1/predictions/{symbol}', 'GET /api/v1/train/status',
      'POST /api/v1/backtest/run', 'POST /api/v1/predictions/train', 'POST /api/v1/predictions/train/stop', 'POST /api/v1/signals/backtest', 'POST /api/v1/train/start',
    ].sort());
  });

  it('answers every owned route with a 2xx that matches its declared response schema', async () => {
    const admin = bearer(t, 'walker', 'admin');
    let alertId = '';
    const failures: string[] = [];
    const seen: string[] = [];
    for (const r of walk) {
      const key = `${r.method} ${r.path}`;
      const path = r.path
        .replace('{symbol}', 'BTC-USDT')
        .replace('{exchange_name}', 'binance')
        .replace('{slo_name}', 'api_availability')
        .replace('{alert_id}', alertId);
      const body = BODIES[key];
      const t0 = Date.now();
      const res = await fetch(`${p.apiUrl}${path}`, {
        method: r.method,
        headers: { ...admin, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      seen.push(`${key} -> ${res.status} (${Date.now() - t0} ms)`);
      if (res.status === 404 || res.status >= 500 || res.status >= 300) { failures.push(`${key}: ${res.status} ${text.slice(0, 300)}`); continue; }
      let v: ReturnType<typeof responseValidator>;
      try { v = responseValidator(openapi, r.method, r.path, res.status); } catch (e) { failures.push(`${key}: ${(e as Error).message}`); continue; }
      const parsed: unknown = v.mediaType.includes('json') ? JSON.parse(text) : text;
      const err = v.validate(parsed);
      if (err) failures.push(`${key}: body does not match its schema: ${err}`);
      if (key === 'POST /api/v1/alerts/') alertId = (parsed as { alert_id: string }).alert_id;
    }
    if (process.env.TEST_VERBOSE) console.log(seen.join('\n'));
    expect(failures, seen.join('\n')).toEqual([]);
    expect(alertId).not.toBe('');
  });

  it('answers 404 with a message for an unknown symbol and an empty result for a known one without data', async () => {
    const unknown = await fetch(`${p.apiUrl}/api/v1/market/candlestick/DOGE-USDT`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toContain('DOGE/USDT');
    const bad = await fetch(`${p.apiUrl}/api/v1/market/candlestick/BTC-USDT?limit=100000`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('limit');
    // SOL/USDT is configured nowhere here: the signals of a known symbol without data are empty.
    const sig = (await (await fetch(`${p.apiUrl}/api/v1/signals/ETH-USDT?interval=1h`)).json()) as { signals: unknown[] };
    expect(sig.signals).toEqual([]);
  });

  it('serves /market/candlestick and /exchanges/klines from the same candles', async () => {
    // Write candles straight into the projection, as the candle processor's sink rows would be.
    // A day back, so the candles the running pipeline makes now stay out of the queried range.
    const now = Date.now() - 86_400_000 - (Date.now() % 60_000);
    const rows = [0, 1, 2].map((i) => ({
      event_id: `walk-candle-${i}`, exchange: '*', symbol: 'ETH/USDT', interval: '1m', open_time: now - (3 - i) * 60_000, close_time: now - (2 - i) * 60_000 - 1,
      open: 100 + i, high: 110 + i, low: 90 + i, close: 105 + i, volume: 10 + i, trades: 5, is_final: true, revision: 0, event_time: now, ingest_time: now,
    }));
    await p.store!.client.insert({ table: 'candles', values: rows, format: 'JSONEachRow' });
    const range = `start=${now - 10 * 60_000}&end=${now}`;
    const a = (await (await fetch(`${p.apiUrl}/api/v1/market/candlestick/ETH-USDT?interval=1m&limit=10&${range}`)).json()) as { candles: Array<{ close: number }> };
    const b = (await (await fetch(`${p.apiUrl}/api/v1/exchanges/klines/ETH-USDT?interval=1m&limit=10&${range}`)).json()) as { candles: Array<{ close: number }> };
    expect(a.candles.map((c) => c.close)).toEqual([105, 106, 107]);
    expect(b).toEqual(a);
  });

  it('reads indicators (filtered by name) and tick history from their tables', async () => {
    const at = Date.now() - 2 * 86_400_000 - (Date.now() % 60_000);
    await p.store!.client.insert({
      table: 'indicators', format: 'JSONEachRow',
      values: [{ event_id: 'walk-ind-1', exchange: '*', symbol: 'BTC/USDT', interval: '5m', open_time: at, close: 50_000, values: { rsi_14: 55.5, macd: 12, sma_20: 49_000 }, event_time: at, ingest_time: at }],
    });
    const ind = (await (await fetch(`${p.apiUrl}/api/v1/market/indicators/BTC-USDT?interval=5m&names=rsi_14,macd&start=${at - 1}&end=${at + 1}`)).json()) as { latest: { values: Record<string, number> } | null; series: unknown[] };
    expect(ind.series).toHaveLength(1);
    expect(ind.latest!.values).toEqual({ rsi_14: 55.5, macd: 12 });
    const bad = await fetch(`${p.apiUrl}/api/v1/market/indicators/BTC-USDT?names=${encodeURIComponent("x') OR 1=1 --")}`);
    expect(bad.status).toBe(400);
    const hist = (await (await fetch(`${p.apiUrl}/api/v1/market/BTC-USDT/history?exchange=kraken&limit=5`)).json()) as { count: number; ticks: Array<{ exchange: string; event_time: string }> };
    expect(hist.count).toBe(5);
    expect(hist.ticks.every((x) => x.exchange === 'kraken')).toBe(true);
    const times = hist.ticks.map((x) => x.event_time);
    expect([...times].sort()).toEqual(times);
  });

  it('answers exchange control with the command, and shows its effect and the connection state from control_events', async () => {
    const admin = { ...bearer(t, 'ops', 'admin'), 'content-type': 'application/json' };
    const r = await fetch(`${p.apiUrl}/api/v1/exchanges/retry-config`, { method: 'POST', headers: admin, body: JSON.stringify({ exchange: 'kraken', base_ms: 250, max_attempts: 5 }) });
    expect(r.status).toBe(202);
    const cmd = (await r.json()) as { id: string; target: string; command: string; params: Record<string, unknown>; status: string; projected: boolean };
    expect(cmd).toMatchObject({ target: 'exchange:kraken', command: 'retry.set', params: { baseMs: 250, maxAttempts: 5 }, status: 'accepted', projected: true });
    expect((await fetch(`${p.apiUrl}/api/v1/exchanges/reconnect/nosuchex`, { method: 'POST', headers: bearer(t, 'ops', 'admin') })).status).toBe(404);
    // What the exchange ingestor answers (it is not part of this in-process pipeline): a
    // command.result for the command and a backoff status, both as control events.
    const now = Date.now();
    await p.store!.client.insert({
      table: 'control_events', format: 'JSONEachRow',
      values: [
        { event_id: `walk-result-${now}`, source: 'ingest:kraken', kind: 'command.result', command_id: cmd.id, payload_json: JSON.stringify({ command: 'retry.set', target: 'exchange:kraken', ok: true, detail: 'retry config set' }), event_time: now, ingest_time: now },
        { event_id: `walk-status-${now}`, source: 'ingest:kraken', kind: 'exchange.status', command_id: null, payload_json: JSON.stringify({ exchange: 'kraken', state: 'backoff', transport: 'websocket', attempt: 2, delayMs: 500, error: { kind: 'timeout', message: 'no pong in 10 s' }, retry: {}, detail: null }), event_time: now, ingest_time: now },
      ],
    });
    const status = await eventually('the command result and the backoff on /exchanges/status', async () => {
      const b = (await (await fetch(`${p.apiUrl}/api/v1/exchanges/status`)).json()) as { exchanges: Array<{ exchange: string; status: string; connection: string | null; reasons: string[] }>; recent_commands: Array<{ command_id: string; result: { ok: boolean } }> };
      return b.recent_commands.some((c) => c.command_id === cmd.id) && b.exchanges.find((e) => e.exchange === 'kraken')?.connection === 'backoff' ? b : null;
    });
    expect(status.recent_commands.find((c) => c.command_id === cmd.id)!.result.ok).toBe(true);
    const kraken = status.exchanges.find((e) => e.exchange === 'kraken')!;
    expect(kraken.status).toBe('degraded');
    expect(kraken.reasons).toContain('connection backoff: no pong in 10 s');
    const health = (await (await fetch(`${p.apiUrl}/api/v1/exchanges/health`)).json()) as { status: string; exchanges: Array<{ name: string; status: string }> };
    expect(health.status).toBe('degraded');
    expect(health.exchanges.find((e) => e.name === 'exchange:kraken')!.status).toBe('degraded');
  });

  it('reports every health route from the one model', async () => {
    const full = (await (await fetch(`${p.apiUrl}/api/v1/monitoring/health`)).json()) as { components: Array<{ name: string; status: string }> };
    const names = full.components.map((c) => c.name);
    for (const n of ['kafka', 'registry', 'clickhouse', 'sink', 'exchange:binance', 'exchange:kraken', 'proxy:fear_greed']) expect(names).toContain(n);
    expect(full.components.find((c) => c.name === 'kafka')!.status).toBe('ok');
    expect(full.components.find((c) => c.name === 'clickhouse')!.status).toBe('ok');
    const root = (await (await fetch(`${p.apiUrl}/`)).json()) as { components: Array<{ name: string }> };
    expect(root.components.map((c) => c.name).sort()).toEqual([...names].sort());
    const ex = (await (await fetch(`${p.apiUrl}/api/v1/exchanges/health`)).json()) as { exchanges: Array<{ name: string }> };
    expect(ex.exchanges.map((c) => c.name)).toEqual(names.filter((n) => n.startsWith('exchange:')));
    const px = (await (await fetch(`${p.apiUrl}/api/v1/proxy/health`)).json()) as { sources: Array<{ name: string }> };
    expect(px.sources.map((c) => c.name)).toEqual(names.filter((n) => n.startsWith('proxy:')));
  });
});
