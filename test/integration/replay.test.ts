// Replay: drop the projections, rebuild them from the topics, compare with what was there.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startPipeline, type Pipeline } from '../../bin/pipeline.ts';
import { PROJECTION_TABLES } from '../../processors/clickhouse-sink.ts';
import { testEnv, eventually } from '../support/env.ts';
import { scriptedTicks, alertCreated } from '../support/market-script.ts';
import { committedTotal } from '../support/kafka-offsets.ts';

describe('replay', () => {
  const t = testEnv({ TICKFLOW_ROLES: 'processors', PROCESSOR_CHECKPOINT_MS: '300' });
  let p: Pipeline;
  /** Per sink write: how many topic partitions its records came from. */
  const writes: number[] = [];
  const ticks = [...scriptedTicks(60), ...scriptedTicks(60, 10_000, 'kraken'), ...scriptedTicks(45, 15_000, 'binance', 'ETH/USDT')];

  beforeAll(async () => {
    p = await startPipeline(t.config, t.log, { sink: { wrapWrite: (write) => async (records) => { writes.push(new Set(records.map((r) => `${r.topicId}|${r.partition}`)).size); await write(records); } } });
    await p.publisher.publish('alertEvents', [{ key: 'r1', value: alertCreated('r1', 'bob', 'price_below', { threshold: '95' }) }]);
    await p.publisher.publish('ticks', ticks.map((v) => ({ key: `${v.exchange}:${v.symbol}`, value: v })));
    await eventually('analytics caught up', async () => (await committedTotal(p.kafka, `${t.prefix}tickflow-analytics`, p.kafka.topic('ticks'))) === ticks.length);
    await eventually('sink caught up', async () => (await p.sink!.lag()) === 0);
  });
  afterAll(async () => { await p?.stop(); });

  async function digest(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const table of PROJECTION_TABLES) {
      const rs = await p.store!.client.query({ query: `SELECT count() AS n, sum(cityHash64(*)) AS h FROM ${table} FINAL`, format: 'JSONEachRow' });
      const [r] = await rs.json<{ n: string; h: string }>();
      out[table] = `${r!.n}:${r!.h}`;
    }
    return out;
  }

  it('rebuilds every projection equal to the live one', async () => {
    const before = await digest();
    expect(Number(before.ticks!.split(':')[0])).toBe(ticks.length);
    expect(Number(before.candles!.split(':')[0])).toBeGreaterThan(0);
    expect(Number(before.alert_triggers!.split(':')[0])).toBe(1);
    writes.length = 0;
    const report = await p.sink!.rebuild();
    // The sink coalesces the batches of one fetch: some write carried several partitions.
    expect(Math.max(...writes)).toBeGreaterThan(1);
    expect(report.tables.ticks).toBeGreaterThanOrEqual(ticks.length);
    expect(report.events).toBeGreaterThan(ticks.length);
    expect(await digest()).toEqual(before);
  }, 180_000);

  it('refuses while another sink instance is in the group, and leaves the projections as they were', async () => {
    const before = await digest();
    const other = p.kafka.consumer({ groupId: `${t.prefix}tickflow-clickhouse-sink`, sessionTimeout: 30_000, heartbeatInterval: 3_000 });
    await other.connect();
    try {
      await other.subscribe({ topics: [p.kafka.topic('ticks')] });
      let joined = false;
      other.on(other.events.GROUP_JOIN, () => { joined = true; });
      await other.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => { await new Promise((r) => setTimeout(r, 50)); } });
      await eventually('second member joined', async () => joined);
      await expect(p.sink!.rebuild()).rejects.toThrow(/other member\(s\) still in the group/);
      expect(await digest()).toEqual(before);
    } finally {
      await other.disconnect();
    }
    // The sink was restarted where it stood: new events still reach the projections.
    const more = scriptedTicks(5, 90_000, 'binance', 'SOL/USDT');
    await p.publisher.publish('ticks', more.map((v) => ({ key: `${v.exchange}:${v.symbol}`, value: v })));
    await eventually('sink projects again', async () => {
      const rs = await p.store!.client.query({ query: `SELECT count() AS n FROM ticks FINAL WHERE symbol = 'SOL/USDT'`, format: 'JSONEachRow' });
      return Number((await rs.json<{ n: string }>())[0]!.n) === more.length;
    }, 90_000);
  }, 180_000);

  it('runs as a command and reports the result as a control event', async () => {
    const now = Date.now();
    await p.publisher.publish('commands', [{ key: 'processors', value: { event_id: 'cmd:replay-test', event_type: 'command', schema_version: 1, event_time: now, ingest_time: now, target: 'processors', command: 'replay', params_json: '{}', requested_by: 'test' } }]);
    const finished = await eventually('replay.finished', async () => {
      const rs = await p.store!.client.query({ query: `SELECT payload_json FROM control_events FINAL WHERE kind = 'replay.finished' AND command_id = 'cmd:replay-test'`, format: 'JSONEachRow' });
      return (await rs.json<{ payload_json: string }>())[0];
    }, 90_000);
    const report = JSON.parse(finished.payload_json) as { tables: Record<string, number> };
    expect(report.tables.ticks).toBeGreaterThanOrEqual(ticks.length);
  }, 180000);
});
