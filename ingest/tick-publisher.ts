// Publishes market events to Kafka: encode with the registry schema, key by market so one
// partition holds one market, and send records that break the schema to the DLQ with the
// reason instead of the topic. Batches are sent as one request each.
import type { Producer } from 'kafkajs';
import type { KafkaContext } from '../runtime/kafka.ts';
import { DecodeError, type EventCodec } from '../runtime/codec.ts';
import type { Logger } from '../runtime/logger.ts';
import { dlqTotal, eventsOut } from '../runtime/metrics.ts';
import type { TopicId, TopicValue } from '../schemas/topics.ts';

const MAX_REQUEST_BYTES = 768 * 1024;

export interface Rejected { topicId: TopicId; key: string; reason: string; raw: unknown }

export class EventPublisher {
  constructor(
    private readonly ctx: KafkaContext,
    private readonly codec: EventCodec,
    private readonly producer: Producer,
    private readonly log: Logger,
  ) {}

  /** Encode and send; invalid records go to the DLQ. Resolves once the broker acknowledged. */
  async publish<K extends TopicId>(topicId: K, events: Array<{ key: string; value: TopicValue[K] }>): Promise<{ sent: number; rejected: number }> {
    const messages: Array<{ key: string; value: Buffer }> = [];
    const rejected: Rejected[] = [];
    for (const e of events) {
      try {
        messages.push({ key: e.key, value: this.codec.encode(topicId, e.value) });
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        rejected.push({ topicId, key: e.key, reason: err.message, raw: e.value });
      }
    }
    if (messages.length) {
      // One request per ~768 KiB keeps every send under the broker's default 1 MiB limit.
      // Sent one after another: concurrent sends on one idempotent kafkajs producer are not
      // safe, and sequential sends keep per-partition order across chunks.
      const topic = this.ctx.topic(topicId);
      let chunk: typeof messages = [];
      let bytes = 0;
      for (const m of messages) {
        if (bytes + m.value.length + m.key.length + 64 > MAX_REQUEST_BYTES && chunk.length) {
          await this.producer.send({ topic, messages: chunk });
          chunk = [];
          bytes = 0;
        }
        chunk.push(m);
        bytes += m.value.length + m.key.length + 64;
      }
      await this.producer.send({ topic, messages: chunk });
      eventsOut.inc({ topic }, messages.length);
    }
    if (rejected.length) await this.reject(rejected, 'validate');
    return { sent: messages.length, rejected: rejected.length };
  }

  /** Record rejected input on the topic's DLQ (never on the topic itself). */
  async reject(items: Rejected[], stage: 'ingest' | 'validate' = 'ingest'): Promise<void> {
    if (items.length === 0) return;
    const now = Date.now();
    const byTopic = new Map<TopicId, Rejected[]>();
    for (const r of items) byTopic.set(r.topicId, [...(byTopic.get(r.topicId) ?? []), r]);
    for (const [topicId, rs] of byTopic) {
      await this.producer.send({
        topic: this.ctx.dlq(topicId),
        messages: rs.map((r, i) => ({
          key: r.key,
          value: this.codec.encodeDeadLetter(topicId, {
            event_id: `dlq:ingest:${now}:${i}:${r.key}`,
            event_type: 'dead_letter',
            schema_version: 1,
            event_time: now,
            ingest_time: now,
            original_topic: this.ctx.topic(topicId),
            original_partition: null,
            original_offset: null,
            stage,
            reason: r.reason,
            payload: Buffer.from(safeJson(r.raw)),
          }),
        })),
      });
      dlqTotal.inc({ topic: this.ctx.topic(topicId), stage }, rs.length);
    }
    this.log.warn({ count: items.length, reason: items[0]!.reason }, 'rejected events sent to DLQ');
  }
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x)) ?? 'undefined';
  } catch {
    return String(v);
  }
}
