// The processors (analytics + sink) killed with SIGKILL mid-stream and restarted leave every
// event counted exactly once in ClickHouse as the API reads it (FINAL).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Producer } from 'kafkajs';
import type { KafkaContext } from '../../runtime/kafka.ts';
import type { EventCodec } from '../../runtime/codec.ts';
import { connectServices } from '../support/services.ts';
import { openStore } from '../../runtime/clickhouse.ts';
import { testEnv, eventually } from '../support/env.ts';
import { spawnTs } from '../support/process.ts';
import { scriptedTicks, referenceCandles } from '../support/market-script.ts';
import { committedTotal, groupLag } from '../support/kafka-offsets.ts';
import { SINK_TOPICS } from '../../processors/clickhouse-sink.ts';

describe('processors killed mid-stream', () => {
  const t = testEnv({ PROCESSOR_CHECKPOINT_MS: '200' });
  let ctx: KafkaContext;
  let codec: EventCodec;
  let producer: Producer;
  const markets = [['binance', 'BTC/USDT'], ['kraken', 'BTC/USDT'], ['binance', 'ETH/USDT'], ['okx', 'SOL/USDT']] as const;
  const ticks = markets.flatMap(([ex, sym]) => scriptedTicks(600, 5_000, ex, sym)); // 4 x 7200

  beforeAll(async () => {
    ({ ctx, codec, producer } = await connectServices(t));
  });
  afterAll(async () => { await producer?.disconnect(); });

  it('restarts from its checkpoints with no duplicate or missing candles', async () => {
    for (let i = 0; i < ticks.length; i += 5000) {
      await producer.send({ topic: ctx.topic('ticks'), messages: ticks.slice(i, i + 5000).map((v) => ({ key: `${v.exchange}:${v.symbol}`, value: codec.encode('ticks', v) })) });
    }
    const group = `${t.prefix}tickflow-analytics`;
    const first = spawnTs('test/fixtures/sink-process.ts', [], t.env);
    const killedAt = await eventually('some progress committed', async () => {
      const c = await committedTotal(ctx, group, ctx.topic('ticks'));
      return c > 0 ? c : null;
    }, 90_000, 50);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    expect(killedAt).toBeLessThan(ticks.length); // it really was mid-stream

    const second = spawnTs('test/fixtures/sink-process.ts', [], t.env);
    await eventually('analytics done', async () => (await committedTotal(ctx, group, ctx.topic('ticks'))) === ticks.length, 120_000);
    // Let the sink drain what analytics published, then stop cleanly.
    await eventually('sink drained', async () => (await groupLag(ctx, `${t.prefix}tickflow-clickhouse-sink`, SINK_TOPICS.map((id) => ctx.topic(id)))) === 0, 120_000);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);

    const store = await openStore(t.config.clickhouse);
    try {
      for (const [ex, sym] of markets) {
        const mine = ticks.filter((x) => x.exchange === ex && x.symbol === sym);
        const expected = referenceCandles(mine, 60_000).slice(0, -1);
        const rs = await store.client.query({
          query: `SELECT toUnixTimestamp64Milli(open_time) AS open_time, open, high, low, close, volume, toUInt64(trades) AS trades FROM candles FINAL
                  WHERE exchange = {ex:String} AND symbol = {sym:String} AND interval = '1m' AND is_final ORDER BY open_time`,
          query_params: { ex, sym }, format: 'JSONEachRow',
        });
        const rows = (await rs.json<Record<string, number | string>>()).map((r) => ({ ...r, open_time: Number(r.open_time), trades: Number(r.trades) }));
        expect(rows, `${ex} ${sym}`).toEqual(expected);
      }
      const [tk] = await (await store.client.query({ query: 'SELECT count() AS n, uniqExact(event_id) AS u FROM ticks FINAL', format: 'JSONEachRow' })).json<{ n: string; u: string }>();
      expect(Number(tk!.n)).toBe(ticks.length);
      expect(Number(tk!.u)).toBe(ticks.length);
      const [ind] = await (await store.client.query({ query: `SELECT count() AS n FROM indicators FINAL WHERE interval = '1m' AND exchange != '*'`, format: 'JSONEachRow' })).json<{ n: string }>();
      expect(Number(ind!.n)).toBe(markets.length * (600 - 1));
    } finally {
      await store.close();
    }
  }, 300000);
});
