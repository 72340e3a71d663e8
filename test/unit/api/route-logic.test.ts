import { describe, it, expect, afterAll } from 'vitest';
import { createServer, type IncomingMessage } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALERT_TYPES, parseAlertDefinition } from '../../../processors/alerts/alert-rules.ts';
import { ALERT_TYPE_DOCS } from '../../../query-api/routes/alerts.ts';
import { pickTicker } from '../../../query-api/routes/exchanges.ts';
import { consensus } from '../../../query-api/routes/signals.ts';
import { OpsAlerts } from '../../../query-api/monitoring/ops-alerts.ts';
import { loadConfig } from '../../../runtime/config.ts';
import { CrashDumps } from '../../../query-api/monitoring/diagnostics.ts';
import { createLogger } from '../../../runtime/logger.ts';

describe('alert type docs', () => {
  it('document every type, and each example parses with the trigger processor\'s own parser', () => {
    expect(Object.keys(ALERT_TYPE_DOCS).sort()).toEqual([...ALERT_TYPES].sort());
    for (const type of ALERT_TYPES) {
      const doc = ALERT_TYPE_DOCS[type];
      const parsed = parseAlertDefinition({ alert_id: 'a', user_id: 'u', event_time: 1, event_id: 'e' }, { alert_type: type, symbol: 'BTC/USDT', exchange: null, interval: null, params: doc.example, cooldown_ms: 0, repeat: false, active: true, note: null });
      expect(parsed, type).toMatchObject({ ok: true });
      // Every required documented param is in the example, and the example uses only documented names.
      const names = doc.params.map((p) => p.name);
      for (const k of Object.keys(doc.example)) expect(names, `${type}.${k}`).toContain(k);
      for (const p of doc.params.filter((x) => x.required)) expect(Object.keys(doc.example), `${type}.${p.name}`).toContain(p.name);
    }
  });
});

describe('ticker failover', () => {
  const t = (exchange: string, age_ms: number) => ({ exchange, age_ms, fresh: age_ms <= 30_000 });
  it('uses the preferred exchange while fresh, else the freshest fresh one', () => {
    expect(pickTicker([t('a', 10), t('b', 5)], 'a').chosen!.exchange).toBe('a');
    const over = pickTicker([t('a', 60_000), t('b', 5_000), t('c', 1_000)], 'a');
    expect(over.chosen!.exchange).toBe('c');
    expect(over.reason).toContain('failed over to c');
    expect(pickTicker([t('a', 90_000), t('b', 60_000)], null).chosen!.exchange).toBe('b');
    expect(pickTicker([], 'a')).toEqual({ chosen: null, reason: 'no ticks yet' });
  });
});

describe('signal consensus', () => {
  it('weighs the latest signal per strategy by strength', () => {
    expect(consensus([])).toEqual({ side: 'HOLD', score: 0, buy: 0, sell: 0, hold: 0 });
    expect(consensus([{ side: 'BUY', strength: 0.9 }, { side: 'BUY', strength: 0.5 }, { side: 'SELL', strength: 0.2 }])).toEqual({ side: 'BUY', score: 0.4, buy: 2, sell: 1, hold: 0 });
    expect(consensus([{ side: 'BUY', strength: 0.2 }, { side: 'SELL', strength: 0.2 }, { side: 'HOLD', strength: 0 }]).side).toBe('HOLD');
  });
});

describe('operational alerts', () => {
  const received: Array<{ body: unknown }> = [];
  const server = createServer((req: IncomingMessage, res) => {
    let b = '';
    req.on('data', (c: Buffer) => { b += c.toString(); });
    req.on('end', () => { received.push({ body: JSON.parse(b) }); res.writeHead(req.url === '/fail' ? 500 : 204).end(); });
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends to the webhook, counts deliveries and keeps the history newest first', async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const log = createLogger('silent');
    const ops = new OpsAlerts(log, loadConfig({ OPS_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/hook` }).monitoring.opsAlertWebhookUrl);
    const a = await ops.send({ severity: 'critical', title: 'disk', message: 'full', source: 'manual:root' });
    expect(a.delivery).toEqual({ log: true, webhook: 'sent', webhook_status: 204, webhook_error: null });
    expect(received[0]!.body).toMatchObject({ id: a.id, severity: 'critical', title: 'disk', message: 'full', service: 'tickflow' });
    const failing = new OpsAlerts(log, `http://127.0.0.1:${port}/fail`);
    expect((await failing.send({ severity: 'info', title: 'x', message: 'y', source: 's' })).delivery.webhook).toBe('failed');
    await ops.send({ severity: 'info', title: 'later', message: 'm', source: 'slo' });
    expect(ops.recent(10).map((x) => x.title)).toEqual(['later', 'disk']);
    expect(ops.recent(10, 'critical').map((x) => x.title)).toEqual(['disk']);
    expect(ops.stats()).toMatchObject({ total: 2, by_severity: { info: 1, warning: 0, critical: 1 }, by_source: { 'manual:root': 1, slo: 1 }, webhook_sent: 2, webhook_failed: 0, webhook_configured: true });
    expect(new OpsAlerts(log, null).stats().webhook_configured).toBe(false);
    expect(() => loadConfig({ OPS_ALERT_WEBHOOK_URL: 'ftp://x' })).toThrow(/OPS_ALERT_WEBHOOK_URL/);
  });
});

describe('crash dumps', () => {
  it('keeps the dump folder inside TICKFLOW_HOME, writes a report and a CPU profile, and lists them with sizes', async () => {
    const home = mkdtempSync(join(tmpdir(), 'dumps-'));
    expect(() => loadConfig({ TICKFLOW_HOME: home, CRASH_DUMP_DIR: '../elsewhere' })).toThrow(/inside TICKFLOW_HOME/);
    const d = new CrashDumps(loadConfig({ TICKFLOW_HOME: home }).monitoring.crashDumpDir);
    expect(d.dir).toBe(join(home, 'crash-dumps'));
    const report = d.report();
    const cpu = await d.cpuProfile(100);
    await expect(d.cpuProfile(10).then(() => d.cpuProfile(10))).resolves.toMatchObject({ kind: 'cpu' });
    const list = d.list();
    expect(list.map((f) => f.kind).sort()).toEqual(['cpu', 'cpu', 'cpu', 'report']);
    for (const f of [report, cpu]) {
      expect(f.size_bytes).toBeGreaterThan(0);
      expect(list.find((x) => x.name === f.name)!.size_bytes).toBe(f.size_bytes);
    }
  });
});
