// The registry is real Apicurio (or whatever SCHEMA_REGISTRY_URL points at): schemas register
// with BACKWARD compatibility, a breaking change is rejected, a compatible one accepted.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createKafka, ensureTopics, type KafkaContext } from '../../runtime/kafka.ts';
import { EventCodec, RegistryError, readSchema } from '../../runtime/codec.ts';
import { TOPICS } from '../../schemas/topics.ts';
import { testEnv } from '../support/env.ts';

describe('schema registry contracts', () => {
  const t = testEnv();
  let ctx: KafkaContext;
  let codec: EventCodec;

  beforeAll(async () => {
    ctx = createKafka(t.config.kafka.brokers!, t.config.kafka, t.log);
    await ensureTopics(ctx, 1, t.log);
    codec = new EventCodec(t.config.registry.url!, ctx);
    await codec.registerAll();
  });

  it('registers every catalogued topic as <topic>-value with BACKWARD compatibility', async () => {
    // Asked one by one: a long-lived registry pages GET /subjects.
    const has = async (subject: string) => (await fetch(`${t.config.registry.url}/subjects/${encodeURIComponent(subject)}/versions`)).status === 200;
    for (const id of Object.keys(TOPICS) as Array<keyof typeof TOPICS>) {
      expect(await has(`${ctx.topic(id)}-value`), id).toBe(true);
      expect(await has(`${ctx.dlq(id)}-value`), `${id} dlq`).toBe(true);
      const cfg = (await (await fetch(`${t.config.registry.url}/config/${encodeURIComponent(`${ctx.topic(id)}-value`)}`)).json()) as { compatibilityLevel: string };
      expect(cfg.compatibilityLevel).toBe('BACKWARD');
    }
  });

  it('rejects an incompatible change to a topic schema', async () => {
    const tick = readSchema(TOPICS.ticks.schema) as { fields: unknown[] };
    // A new required field without a default: readers of the new schema cannot read old data.
    const breaking = { ...tick, fields: [...tick.fields, { name: 'venue_sequence', type: 'long' }] };
    const err = await codec.registerVersion(`${ctx.topic('ticks')}-value`, breaking).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).status).toBe(409);
    // Removing the type of an existing field is just as breaking.
    const retyped = { ...tick, fields: (tick.fields as Array<{ name: string }>).map((f) => (f.name === 'last' ? { name: 'last', type: 'string' } : f)) };
    await expect(codec.registerVersion(`${ctx.topic('ticks')}-value`, retyped)).rejects.toMatchObject({ status: 409 });
  });

  it('accepts a compatible change (a new optional field) as a new version', async () => {
    const tick = readSchema(TOPICS.ticks.schema) as { fields: unknown[] };
    const compatible = { ...tick, fields: [...tick.fields, { name: 'venue_sequence', type: ['null', 'long'], default: null }] };
    const id = await codec.registerVersion(`${ctx.topic('ticks')}-value`, compatible);
    expect(id).toBeGreaterThan(codec.schemaId(ctx.topic('ticks')));
    const versions = (await (await fetch(`${t.config.registry.url}/subjects/${encodeURIComponent(`${ctx.topic('ticks')}-value`)}/versions`)).json()) as number[];
    expect(versions.length).toBe(2);
  });

  it('reads a message written with the newer schema through our reader schema', async () => {
    // A producer on the newer schema (extra optional field) must not break today's consumers.
    const avro = (await import('avsc')).default;
    const tick = readSchema(TOPICS.ticks.schema) as { fields: unknown[] };
    const newer = { ...tick, fields: [...tick.fields, { name: 'venue_sequence', type: ['null', 'long'], default: null }] };
    const id = await codec.registerVersion(`${ctx.topic('ticks')}-value`, newer);
    const value = { event_id: 'e1', event_type: 'tick', schema_version: 2, event_time: 1, ingest_time: 2, exchange: 'binance', symbol: 'BTC/USDT', last: 10, bid: null, ask: null, bid_size: null, ask_size: null, base_volume: null, quote_volume: null, trade_volume: null, source: 'test', venue_sequence: 7 };
    const body = avro.Type.forSchema(newer as never).toBuffer(value);
    const framed = Buffer.concat([Buffer.from([0, (id >>> 24) & 255, (id >>> 16) & 255, (id >>> 8) & 255, id & 255]), body]);
    const decoded = await codec.decode('ticks', framed);
    expect(decoded.last).toBe(10);
    expect(decoded.symbol).toBe('BTC/USDT');
    expect('venue_sequence' in decoded).toBe(false);
  });

  afterAll(async () => undefined);
});
