// A sink killed with SIGKILL between its ClickHouse write and its offset commit, then
// restarted, leaves every tick visible exactly once.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { KafkaContext } from '../../runtime/kafka.ts';
import type { EventCodec } from '../../runtime/codec.ts';
import { connectServices } from '../support/services.ts';
import { openStore } from '../../runtime/clickhouse.ts';
import type { Producer } from 'kafkajs';
import { testEnv, eventually } from '../support/env.ts';
import { makeTicks } from '../support/ticks.ts';
import { spawnTs } from '../support/process.ts';

describe('crash between write and commit', () => {
  const t = testEnv();
  let ctx: KafkaContext;
  let codec: EventCodec;
  let producer: Producer;
  const groupId = () => `${t.prefix}tickflow-clickhouse-sink`;

  beforeAll(async () => {
    ({ ctx, codec, producer } = await connectServices(t));
  });
  afterAll(async () => { await producer?.disconnect(); });

  async function committed(): Promise<number> {
    const admin = ctx.admin();
    await admin.connect();
    const offs = await admin.fetchOffsets({ groupId: groupId(), topics: [ctx.topic('ticks')] });
    await admin.disconnect();
    return offs[0]!.partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
  }

  it('shows no duplicate rows after restart', async () => {
    const ticks = makeTicks(400);
    await producer.send({ topic: ctx.topic('ticks'), messages: ticks.map((v) => ({ key: `${v.exchange}:${v.symbol}`, value: codec.encode('ticks', v) })) });

    const crashing = spawnTs('test/fixtures/sink-process.ts', [], { ...t.env, CRASH_AFTER_WRITE: '1' });
    const { signal } = await crashing.exited;
    expect(signal).toBe('SIGKILL');
    const wrote = Number(/WROTE (\d+)/.exec(crashing.stdout())?.[1] ?? 0);
    expect(wrote).toBeGreaterThan(0); // it did write...
    expect(await committed()).toBe(0); // ...and committed nothing

    const sink = spawnTs('test/fixtures/sink-process.ts', [], t.env);
    await eventually('all offsets committed', async () => (await committed()) === ticks.length, 60_000);
    sink.child.kill('SIGTERM');
    const exit = await sink.exited;
    expect(exit.code).toBe(0);

    const store = await openStore(t.config.clickhouse);
    try {
      const [r] = await (await store.client.query({ query: 'SELECT count() AS visible, uniqExact(event_id) AS ids FROM ticks FINAL', format: 'JSONEachRow' })).json<{ visible: string; ids: string }>();
      expect(Number(r!.ids)).toBe(ticks.length);
      expect(Number(r!.visible)).toBe(ticks.length);
      // The batch written before the crash was written again after it: physically there may be
      // duplicates until a merge, but no read through FINAL sees them.
      const [raw] = await (await store.client.query({ query: 'SELECT count() AS n FROM ticks', format: 'JSONEachRow' })).json<{ n: string }>();
      expect(Number(raw!.n)).toBeGreaterThanOrEqual(ticks.length);
    } finally {
      await store.close();
    }
  });
});
