// A Kafka context, registered codec and producer on the shared test services, for tests that
// run the pipeline in child processes and talk to the broker themselves.
import type { Producer } from 'kafkajs';
import { createKafka, ensureTopics, type KafkaContext } from '../../runtime/kafka.ts';
import { EventCodec } from '../../runtime/codec.ts';
import type { TestEnv } from './env.ts';

export async function connectServices(t: TestEnv): Promise<{ ctx: KafkaContext; codec: EventCodec; producer: Producer }> {
  const ctx = createKafka(t.config.kafka.brokers!, t.config.kafka, t.log);
  await ensureTopics(ctx, 1, t.log);
  const codec = new EventCodec(t.config.registry.url!, ctx);
  await codec.registerAll();
  return { ctx, codec, producer: await ctx.producer() };
}
