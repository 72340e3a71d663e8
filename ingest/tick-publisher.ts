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

/** One topic's events for publishAll. */
export type PublishGroup = { [K in TopicId]: { topicId: K; events: Array<{ key: string; value: TopicValue[K] }> } }[TopicId];

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
    return this.publishAll([{ topicId, events } as PublishGroup]);
  }

  /**
   * Several topics' events in as few requests as fit (one sendBatch per ~768 KiB), so a
   * processor's outputs (candles, indicators, signals, triggers) cost one broker round trip, not
   * one per topic. Order within each topic is kept.
   */
  async publishAll(groups: PublishGroup[]): Promise<{ sent: number; rejected: number }> {
    const rejected: Rejected[] = [];
    const encoded: Array<{ topic: string; messages: Array<{ key: string; value: Buffer }> }> = [];
    for (const { topicId, events } of groups) {
      const messages: Array<{ key: string; value: Buffer }> = [];
      for (const e of events) {
        try {
          messages.push({ key: e.key, value: this.codec.encode(topicId, e.value) });
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
          rejected.push({ topicId, key: e.key, reason: err.message, raw: e.value });
        }
      }
      if (messages.length) encoded.push({ topic: this.ctx.topic(topicId), messages });
    }
    // One request per ~768 KiB keeps every send under the broker's default 1 MiB limit. Sent one
    // after another: concurrent sends on one idempotent kafkajs producer are not safe, and
    // sequential sends keep per-partition order across chunks.
    let request: Array<{ topic: string; messages: Array<{ key: string; value: Buffer }> }> = [];
    let bytes = 0;
    const flush = async () => {
      if (request.length) await this.producer.sendBatch({ topicMessages: request });
      request = [];
      bytes = 0;
    };
    let sent = 0;
    for (const { topic, messages } of encoded) {
      let current: Array<{ key: string; value: Buffer }> = [];
      request.push({ topic, messages: current });
      for (const m of messages) {
        const size = m.value.length + m.key.length + 64;
        if (bytes + size > MAX_REQUEST_BYTES && bytes > 0) {
          await flush();
          current = [];
          request.push({ topic, messages: current });
        }
        current.push(m);
        bytes += size;
      }
      sent += messages.length;
      eventsOut.inc({ topic }, messages.length);
    }
    await flush();
    if (rejected.length) await this.reject(rejected, 'validate');
    return { sent, rejected: rejected.length };
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
