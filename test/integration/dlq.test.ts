// Malformed messages on market.ticks.v1 land in its DLQ with their reason, and the valid ticks
// after them still reach ClickHouse: the partition keeps moving.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startPipeline, type Pipeline } from '../../bin/pipeline.ts';
import type { DeadLetter } from '../../schemas/generated/events.ts';
import { testEnv, eventually } from '../support/env.ts';
import { makeTicks } from '../support/ticks.ts';
import { alertCreated } from '../support/market-script.ts';

describe('dead-letter queue', () => {
  const t = testEnv({ TICKFLOW_ROLES: 'processors' });
  let p: Pipeline;

  beforeAll(async () => { p = await startPipeline(t.config, t.log); });
  afterAll(async () => { await p?.stop(); });

  it('routes undecodable messages to market.ticks.v1.dlq with reasons; valid ticks still arrive', async () => {
    const topic = p.kafka.topic('ticks');
    const key = 'binance:BTC/USDT'; // one key: everything below is on one partition, in order
    const valid = makeTicks(20).map((tk) => ({ ...tk, exchange: 'binance', symbol: 'BTC/USDT' }));
    const good = valid.map((v) => ({ key, value: p.codec.encode('ticks', v) }));
    const unknownId = Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 1, 2, 3]);
    const truncated = p.codec.encode('ticks', valid[0]!).subarray(0, 12);
    await p.producer.send({
      topic,
      messages: [
        good[0]!,
        { key, value: Buffer.from('{"not":"avro"}') },
        { key, value: unknownId },
        { key, value: truncated },
        { key, value: null },
        ...good.slice(1),
      ],
    });

    await eventually('20 valid ticks in ClickHouse', async () => {
      const [r] = await (await p.store!.client.query({ query: 'SELECT count() AS n FROM ticks FINAL', format: 'JSONEachRow' })).json<{ n: string }>();
      return Number(r!.n) === 20;
    });
    const [ids] = await (await p.store!.client.query({ query: 'SELECT groupArray(event_id) AS ids FROM ticks FINAL', format: 'JSONEachRow' })).json<{ ids: string[] }>();
    expect(new Set(ids!.ids)).toEqual(new Set(valid.map((v) => v.event_id)));

    // Read the DLQ back from the broker.
    const dead: DeadLetter[] = [];
    const consumer = p.kafka.consumer({ groupId: `${t.prefix}dlq-reader` });
    await consumer.connect();
    await consumer.subscribe({ topic: p.kafka.dlq('ticks'), fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => { dead.push((await p.codec.decodeFor(p.kafka.dlq('ticks'), message.value)) as DeadLetter); } });
    await eventually('4 dead letters', async () => dead.length >= 4);
    await consumer.disconnect();

    expect(dead).toHaveLength(4);
    const reasons = dead.map((d) => d.reason);
    expect(reasons[0]).toMatch(/magic byte 123/);
    expect(reasons[1]).toMatch(/schema id 2147483632 is not in the registry/);
    expect(reasons[2]).toMatch(/Avro body does not decode/);
    expect(reasons[3]).toMatch(/0 bytes is too short/);
    for (const d of dead) {
      expect(d.original_topic).toBe(topic);
      expect(d.stage).toBe('decode');
    }
    expect(dead[0]!.payload.toString()).toBe('{"not":"avro"}');
    // Each dead letter points at its original message: offsets 1..4, right after the first tick.
    expect(dead.map((d) => Number(d.original_offset))).toEqual([1, 2, 3, 4]);
    // Nothing is sent twice: the batch was committed once.
    await new Promise((r) => setTimeout(r, 1500));
    const [again] = await (await p.store!.client.query({ query: 'SELECT count() AS n FROM ticks', format: 'JSONEachRow' })).json<{ n: string }>();
    expect(Number(again!.n)).toBe(20);
  });

  it('publishes several topics in size-bounded multi-topic requests; a record that breaks the schema goes to the DLQ alone', async () => {
    const ticks = makeTicks(5000, 11, Date.UTC(2026, 1, 1)).map((tk) => ({ key: `${tk.exchange}:${tk.symbol}`, value: { ...tk, event_id: `multi:${tk.event_id}` } }));
    const broken = { key: 'binance:BTC/USDT', value: { ...ticks[0]!.value, event_id: 'multi:broken', last: 'not a number' as unknown as number } };
    const requests: number[] = [];
    const sendBatch = p.producer.sendBatch.bind(p.producer);
    // Only this publish's requests: the analytics processor sends its outputs on the same producer.
    const ours = new Set([p.kafka.topic('ticks'), p.kafka.topic('alertEvents')]);
    p.producer.sendBatch = async (b) => { if (b.topicMessages!.every((tm) => ours.has(tm.topic))) requests.push(b.topicMessages!.length); return sendBatch(b); };
    try {
      const r = await p.publisher.publishAll([
        { topicId: 'ticks', events: [...ticks.slice(0, 2000), broken, ...ticks.slice(2000)] },
        { topicId: 'alertEvents', events: [{ key: 'multi-1', value: alertCreated('multi-1', 'carol', 'price_above', { threshold: '5' }) }] },
      ]);
      expect(r).toEqual({ sent: ticks.length + 1, rejected: 1 });
    } finally {
      p.producer.sendBatch = sendBatch;
    }
    // About 5000 x (~130 B + key + 64 B accounted per message) is over one 768 KiB request, and the last request
    // carries both topics.
    expect(requests.length).toBeGreaterThanOrEqual(2);
    expect(requests.at(-2)! + requests.at(-1)!).toBeGreaterThanOrEqual(3);
    await eventually('multi-topic publish projected', async () => {
      const [n] = await (await p.store!.client.query({ query: "SELECT count() AS n FROM ticks FINAL WHERE startsWith(event_id, 'multi:')", format: 'JSONEachRow' })).json<{ n: string }>();
      const [a] = await (await p.store!.client.query({ query: "SELECT count() AS n FROM alerts FINAL WHERE alert_id = 'multi-1'", format: 'JSONEachRow' })).json<{ n: string }>();
      return Number(n!.n) === ticks.length && Number(a!.n) === 1;
    });
    const [b] = await (await p.store!.client.query({ query: "SELECT count() AS n FROM ticks WHERE event_id = 'multi:broken'", format: 'JSONEachRow' })).json<{ n: string }>();
    expect(Number(b!.n)).toBe(0);
  });
});
