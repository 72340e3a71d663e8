// api: autocannon (separate process, 50 connections) on candlestick (500 candles), prices,
// signals and alert-list routes of the real app (roles=api, chDB seeded by direct inserts) vs a raw
// Fastify app returning the same response object from memory through the same response schema
// (taken from the app's own OpenAPI document).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Fastify from 'fastify';

import { createClickHouseWriter } from '../../processors/clickhouse-sink.ts';
import type { ConsumedRecord } from '../../processors/consumer-runner.ts';
import { SyntheticMarket } from '../../ingest/synthetic-market.ts';
import { loadJwtSecret, signToken } from '../../query-api/auth.ts';
import { groupTop, profileTop, startPipelineRetry, benchEnv, ratioFigure, REPO, round, scenarioMain, type Figure, type ScenarioResult, teardown } from '../lib.ts';

interface Cannon { rps: number; p99: number; p50: number; non2xx: number; errors: number }

function autocannon(url: string, seconds: number, headers: Record<string, string>): Promise<Cannon> {
  const args = [join(REPO, 'node_modules', 'autocannon', 'autocannon.js'), '-c', '50', '-d', String(seconds), '-j'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    c.on('exit', () => {
      try {
        const j = JSON.parse(out) as { requests: { average: number }; latency: { p99: number; p50: number }; non2xx: number; errors: number };
        resolve({ rps: j.requests.average, p99: j.latency.p99, p50: j.latency.p50, non2xx: j.non2xx, errors: j.errors });
      } catch (e) { reject(new Error(`autocannon output not JSON: ${out.slice(0, 200)} (${String(e)})`)); }
    });
  });
}

export async function run(quick: boolean): Promise<ScenarioResult> {
  const t = benchEnv('api', { TICKFLOW_ROLES: 'api' });
  const p = await startPipelineRetry(t.config, t.log);
  const write = createClickHouseWriter(p.store!.client);
  const rec = <K extends ConsumedRecord['topicId']>(topicId: K, value: unknown, i: number) => ({ topicId, partition: 0, offset: String(i), key: null, value } as ConsumedRecord);
  const now = Date.now();
  const minute = 60_000;
  const start = Math.floor(now / minute) * minute - 600 * minute;
  const market = new SyntheticMarket({ symbols: ['BTC/USDT', 'ETH/USDT', 'SOL/USDT'], exchanges: ['binance', 'coinbase', 'kraken'], seed: 42 });
  const records: ConsumedRecord[] = [];
  market.next(now - 1000, 900, now - 1000).forEach((v, i) => records.push(rec('ticks', v, i)));
  for (let i = 0; i < 600; i++) {
    const px = 65_000 + Math.sin(i / 10) * 200;
    for (const exchange of ['*', 'binance']) {
      records.push(rec('candles', { event_id: `candle:${exchange}:BTC/USDT:1m:${i}`, event_type: 'candle', schema_version: 1, event_time: start + (i + 1) * minute, ingest_time: start + (i + 1) * minute, exchange, symbol: 'BTC/USDT', interval: '1m',
        open_time: start + i * minute, close_time: start + (i + 1) * minute - 1, open: px, high: px + 50, low: px - 50, close: px + 10, volume: 12.5, trades: 100, is_final: true, revision: 1 }, i));
    }
  }
  for (let i = 0; i < 200; i++) {
    records.push(rec('signals', { event_id: `signal:${i}`, event_type: 'signal', schema_version: 1, event_time: start + i * minute, ingest_time: start + i * minute, exchange: '*', symbol: 'BTC/USDT', interval: '1m',
      open_time: start + i * minute, strategy: 'rsi_reversion', side: i % 3 === 0 ? 'BUY' : i % 3 === 1 ? 'SELL' : 'HOLD', strength: 0.5, price: 65_000, reasons: ['rsi_14 below 30', 'bench seed'] }, i));
  }
  for (let i = 0; i < 100; i++) {
    records.push(rec('alertEvents', { event_id: `alert:${i}`, event_type: 'alert_event', schema_version: 1, event_time: now - i * 1000, ingest_time: now - i * 1000, alert_id: `a${i}`, user_id: 'bench', kind: 'CREATED',
      definition: { alert_type: 'price_above', symbol: 'BTC/USDT', exchange: null, interval: null, params: { threshold: String(70_000 + i) }, cooldown_ms: 60_000, repeat: false, active: true, note: null } }, i));
  }
  await write(records);

  const auth = { authorization: `Bearer ${signToken(loadJwtSecret(t.home, undefined), { id: 'bench', role: 'user' })}` };
  const routes = [
    { name: 'candlestick (500 candles)', url: '/api/v1/market/candlestick/BTC-USDT', openapi: '/api/v1/market/candlestick/{symbol}', headers: {} as Record<string, string>, count: (b: any) => b.candles?.length ?? b.data?.length },
    { name: 'prices', url: '/api/v1/market/prices', openapi: '/api/v1/market/prices', headers: {}, count: (b: any) => b.prices?.length },
    { name: 'signals (100)', url: '/api/v1/signals/BTC-USDT', openapi: '/api/v1/signals/{symbol}', headers: {}, count: (b: any) => b.signals?.length },
    { name: 'alert list (100)', url: '/api/v1/alerts/', openapi: '/api/v1/alerts/', headers: auth, count: (b: any) => b.alerts?.length },
  ];
  const doc = (await (await fetch(`${p.apiUrl}/api/v1/openapi.json`)).json()) as { paths: Record<string, any> };
  const raw = Fastify({ logger: false });
  const bodies: Record<string, unknown> = {};
  const notes: string[] = [];
  for (const r of routes) {
    const res = await fetch(`${p.apiUrl}${r.url}`, { headers: r.headers });
    if (res.status !== 200) throw new Error(`${r.url}: ${res.status} ${await res.text()}`);
    const body = await res.json();
    bodies[r.url] = body;
    const pathDoc = doc.paths[r.openapi] ?? doc.paths[r.openapi.replace(/\/$/, '')];
    const schema = pathDoc?.get?.responses?.['200']?.content?.['application/json']?.schema;
    if (!schema) throw new Error(`no OpenAPI 200 schema for ${r.openapi}`);
    raw.get(r.url, { schema: { response: { 200: schema } } }, async () => bodies[r.url]);
    notes.push(`${r.name}: ${JSON.stringify(body).length} bytes, ${r.count(body as any) ?? '?'} items`);
  }
  const rawUrl = await raw.listen({ host: '127.0.0.1', port: 0 });
  const seconds = quick ? 5 : 20;
  const figures: Figure[] = [];
  const profiles: string[] = [];
  for (const r of routes) {
    await autocannon(`${rawUrl}${r.url}`, 1, r.headers); // warm-up
    const b = await autocannon(`${rawUrl}${r.url}`, seconds, r.headers);
    await autocannon(`${p.apiUrl}${r.url}`, 1, r.headers);
    const { result: a, modules } = await profileTop(() => autocannon(`${p.apiUrl}${r.url}`, seconds, r.headers), 6);
    profiles.push(`${r.name}: ${groupTop(modules)}`);
    const bad = a.non2xx + a.errors;
    figures.push(ratioFigure({ figure: `${r.name} req/s`, value: round(a.rps, 0), unit: 'req/s', baseline: round(b.rps, 0), target: '>= 0.5x', minRatio: 0.5, note: bad ? `${bad} non-2xx/errors in the product run` : undefined }));
    figures.push(ratioFigure({ figure: `${r.name} p99 latency`, value: a.p99, unit: 'ms', baseline: b.p99, target: '<= 2x', maxRatio: 2, note: `p50 ${a.p50} ms vs ${b.p50} ms` }));
  }
  await raw.close();
  await teardown(p, t);
  return { scenario: 'api', quick, figures, notes: [`autocannon -c 50 -d ${seconds} in a separate process (1 s warm-up each), loopback; the product runs with rate limiting raised to 1M/min (the plugin still runs), identify/metrics/SLO hooks on.`, ...notes, `Server-side CPU profile during each product run (self time by module, this process): ${profiles.join(' | ')}`] };
}

scenarioMain('api', run);
