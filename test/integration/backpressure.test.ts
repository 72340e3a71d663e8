// With ClickHouse writes failing, the sink pauses instead of buffering: memory holds one fetch,
// nothing is committed past what was written, and everything arrives once writes succeed.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import v8 from 'node:v8';
import vm from 'node:vm';
import { startPipeline, type Pipeline } from '../../bin/pipeline.ts';
import { registry } from '../../runtime/metrics.ts';
import { testEnv, eventually } from '../support/env.ts';
import { scriptedTicks } from '../support/market-script.ts';
import { committedTotal } from '../support/kafka-offsets.ts';

describe('sink backpressure', () => {
  const t = testEnv({ TICKFLOW_ROLES: 'processors', SINK_RETRY_MAX_MS: '500' });
  let p: Pipeline;
  let failing = true;
  let failures = 0;

  beforeAll(async () => {
    p = await startPipeline(t.config, t.log, {
      sink: {
        wrapWrite: (write) => async (records) => {
          if (failing) { failures++; throw new Error('simulated ClickHouse outage'); }
          await write(records);
        },
      },
    });
  });
  afterAll(async () => { await p?.stop(); });

  it('pauses, holds at most one fetch, commits nothing, then delivers everything once', async () => {
    const symbols = ['BTC/USDT', 'ETH/USDT'];
    const ticks = symbols.flatMap((s) => scriptedTicks(400, 1000, 'binance', s)); // 2 x 24k
    // Retained memory, not garbage not yet collected: measure after a full GC.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const retained = () => { gc(); return process.memoryUsage().heapUsed; };
    const heapBefore = retained();
    for (let i = 0; i < ticks.length; i += 10_000) {
      await p.publisher.publish('ticks', ticks.slice(i, i + 10_000).map((v) => ({ key: `${v.exchange}:${v.symbol}`, value: v })));
    }
    const sinkGroup = `${t.prefix}tickflow-clickhouse-sink`;
    await eventually('failed writes retried', async () => failures >= 5);
    const runner = p.sink!.runner!;
    expect(runner.paused).toBe(true);
    expect(await committedTotal(p.kafka, sinkGroup, p.kafka.topic('ticks'))).toBe(0);
    // One fetch at a time, its batches bounded by maxBytesPerPartition (2 MiB each; the sink takes
    // both partitions' batches at once), never the backlog: less than one market's partition holds.
    expect(runner.maxHeldRecords).toBeGreaterThan(0);
    expect(runner.maxHeldRecords).toBeLessThan(ticks.length / symbols.length);
    const metrics = await registry.getSingleMetricAsString('tickflow_consumer_paused');
    expect(metrics).toMatch(/tickflow_consumer_paused\{consumer="clickhouse-sink"\} 1/);
    await new Promise((r) => setTimeout(r, 3000));
    expect(await committedTotal(p.kafka, sinkGroup, p.kafka.topic('ticks'))).toBe(0);
    const heapGrowthMb = (retained() - heapBefore) / 2 ** 20;
    expect(heapGrowthMb).toBeLessThan(200);

    failing = false;
    await eventually('all ticks written once', async () => {
      const [r] = await (await p.store!.client.query({ query: 'SELECT count() AS n FROM ticks FINAL', format: 'JSONEachRow' })).json<{ n: string }>();
      return Number(r!.n) === ticks.length;
    }, 120_000, 500);
    await eventually('committed after the writes', async () => (await committedTotal(p.kafka, sinkGroup, p.kafka.topic('ticks'))) === ticks.length);
    expect(runner.paused).toBe(false);
  }, 240000);
});
