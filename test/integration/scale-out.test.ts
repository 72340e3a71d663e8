// Two analytics instances in one consumer group split the tick partitions; when one leaves,
// the other takes its partitions over from the changelog and nothing is lost or doubled.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startPipeline, type Pipeline } from '../../bin/pipeline.ts';
import { AnalyticsProcessor } from '../../processors/analytics-processor.ts';
import { testEnv, eventually } from '../support/env.ts';
import { scriptedTicks, referenceCandles } from '../support/market-script.ts';
import { committedTotal } from '../support/kafka-offsets.ts';

describe('analytics scale-out', () => {
  const t = testEnv({ TICKFLOW_ROLES: 'processors', PROCESSOR_CHECKPOINT_MS: '200' });
  let p: Pipeline;
  let second: AnalyticsProcessor;
  const symbols = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT', 'XRP/USDT', 'ADA/USDT', 'BNB/USDT'];
  const all = symbols.flatMap((s) => scriptedTicks(120, 5_000, 'binance', s));
  const half = (x: { event_time: number }) => x.event_time < all[0]!.event_time + 60 * 60_000;

  beforeAll(async () => {
    p = await startPipeline(t.config, t.log);
    second = new AnalyticsProcessor({ ctx: p.kafka, codec: p.codec, producer: p.producer, publisher: p.publisher, clickhouse: p.store!.client, log: t.log, groupId: `${t.prefix}tickflow-analytics`, checkpointMs: 200 });
    await second.start();
  });
  afterAll(async () => { await p?.stop(); });

  it('splits partitions, survives a rebalance, and the candles match the reference', async () => {
    const group = `${t.prefix}tickflow-analytics`;
    const first = all.filter(half);
    await p.publisher.publish('ticks', first.map((v) => ({ key: `${v.exchange}:${v.symbol}`, value: v })));
    await eventually('first half processed', async () => (await committedTotal(p.kafka, group, p.kafka.topic('ticks'))) === first.length, 60_000);
    const a = p.analytics!.partitions;
    const b = second.partitions;
    expect(a.length).toBeGreaterThan(0);
    expect(b.length).toBeGreaterThan(0);
    expect(a.filter((x) => b.includes(x))).toEqual([]);

    await second.stop(); // rebalance: the first instance takes everything over
    const rest = all.filter((x) => !half(x));
    await p.publisher.publish('ticks', rest.map((v) => ({ key: `${v.exchange}:${v.symbol}`, value: v })));
    await eventually('all processed', async () => (await committedTotal(p.kafka, group, p.kafka.topic('ticks'))) === all.length, 90_000);
    await eventually('sink drained', async () => (await p.sink!.lag()) === 0, 60_000);

    for (const s of symbols) {
      const expected = referenceCandles(all.filter((x) => x.symbol === s), 60_000).slice(0, -1).map((c) => [c.open_time, c.volume, c.trades]);
      const rs = await p.store!.client.query({
        query: `SELECT toUnixTimestamp64Milli(open_time) AS o, volume, toUInt64(trades) AS n FROM candles FINAL WHERE symbol = {s:String} AND exchange = '*' AND interval = '1m' AND is_final ORDER BY open_time`,
        query_params: { s }, format: 'JSONEachRow',
      });
      const rows = (await rs.json<{ o: string; volume: number; n: string }>()).map((r) => [Number(r.o), r.volume, Number(r.n)]);
      expect(rows, s).toEqual(expected);
    }
  }, 240000);
});
