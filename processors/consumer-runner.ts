// The one runner that drives every processor and the sink from Kafka: decode with the registry,
// send undecodable or invalid messages to the topic's DLQ, hand the batch to the processor's
// write, and commit offsets only after that write succeeded. While writes fail it pauses the
// partition and retries with backoff, so memory holds one batch and nothing is committed early.
import type { Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import type { KafkaContext } from '../runtime/kafka.ts';
import { DecodeError, type EventCodec } from '../runtime/codec.ts';
import type { Logger } from '../runtime/logger.ts';
import { consumerLag, consumerPaused, dlqTotal, eventsIn, sinkWriteFailures } from '../runtime/metrics.ts';
import type { TopicId, TopicValue } from '../schemas/topics.ts';

export interface ConsumedRecord<K extends TopicId = TopicId> {
  topicId: K;
  partition: number;
  offset: string;
  key: string | null;
  value: TopicValue[K];
}

export interface RunnerOptions {
  name: string;
  groupId: string;
  topics: TopicId[];
  ctx: KafkaContext;
  codec: EventCodec;
  producer: Producer;
  log: Logger;
  /** The processor's effect for one decoded batch. Must be idempotent: a crash replays it. */
  write(records: ConsumedRecord[]): Promise<void>;
  fromBeginning?: boolean;
  /** Max wait for a fetch to fill (time-based batching). */
  maxWaitMs?: number;
  /** Max bytes per partition per fetch (size-based batching). */
  maxBytesPerPartition?: number;
  retryMaxMs?: number;
  /** Called after write, before commit (tests use it to crash exactly there). */
  afterWrite?: (records: ConsumedRecord[]) => Promise<void> | void;
}

export class ConsumerRunner {
  readonly consumer: Consumer;
  private running = false;
  private stopping = false;
  private readonly byName = new Map<string, TopicId>();
  private processed = 0;

  constructor(private readonly o: RunnerOptions) {
    this.consumer = o.ctx.consumer({
      groupId: o.groupId,
      maxWaitTimeInMs: o.maxWaitMs ?? 250,
      maxBytesPerPartition: o.maxBytesPerPartition ?? 2 * 1024 * 1024,
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
    });
    for (const id of o.topics) this.byName.set(o.ctx.topic(id), id);
  }

  get processedCount(): number { return this.processed; }

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [...this.byName.keys()], fromBeginning: this.o.fromBeginning ?? true });
    this.running = true;
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (p) => this.onBatch(p),
    });
  }

  /** Stop fetching, let the batch in flight finish (write + commit), disconnect. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.running) await this.consumer.disconnect();
    this.running = false;
  }

  private async onBatch({ batch, heartbeat, isRunning, isStale, pause, resolveOffset }: EachBatchPayload): Promise<void> {
    const topicId = this.byName.get(batch.topic);
    if (!topicId || batch.messages.length === 0) return;
    const good: ConsumedRecord[] = [];
    const dead: Array<{ m: KafkaMessage; err: DecodeError }> = [];
    for (const m of batch.messages) {
      try {
        const value = await this.o.codec.decode(topicId, m.value);
        good.push({ topicId, partition: batch.partition, offset: m.offset, key: m.key?.toString() ?? null, value });
      } catch (err) {
        if (err instanceof DecodeError) dead.push({ m, err });
        else throw err; // e.g. registry unreachable: kafkajs retries the batch, nothing committed
      }
    }

    let attempt = 0;
    let resume: (() => void) | null = null;
    for (;;) {
      if (!isRunning() || isStale()) return; // uncommitted; redelivered after rebalance/restart
      try {
        if (dead.length) await this.sendToDlq(topicId, batch.partition, dead);
        dead.length = 0;
        if (good.length) await this.o.write(good);
        break;
      } catch (err) {
        attempt++;
        sinkWriteFailures.inc({ consumer: this.o.name });
        if (!resume) {
          // Pausing stops kafkajs fetching more for this partition while we hold the batch.
          resume = pause();
          consumerPaused.set({ consumer: this.o.name }, 1);
        }
        const delay = Math.min(this.o.retryMaxMs ?? 10_000, 200 * 2 ** Math.min(attempt, 10)) * (0.5 + Math.random() / 2);
        this.o.log.warn({ consumer: this.o.name, topic: batch.topic, partition: batch.partition, attempt, delayMs: Math.round(delay), err: (err as Error).message }, 'write failed; partition paused, retrying');
        await sleepWithHeartbeat(delay, heartbeat, () => this.stopping);
        if (this.stopping) return;
      }
    }
    if (resume) {
      resume();
      consumerPaused.set({ consumer: this.o.name }, 0);
      this.o.log.info({ consumer: this.o.name, topic: batch.topic, partition: batch.partition, attempts: attempt }, 'writes recovered; partition resumed');
    }
    await this.o.afterWrite?.(good);
    const last = batch.lastOffset();
    // kafkajs advances its fetch position only past resolved offsets; unresolved, the same
    // batch would be fetched again.
    resolveOffset(last);
    await this.consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
    this.processed += batch.messages.length;
    eventsIn.inc({ topic: batch.topic, consumer: this.o.name }, batch.messages.length);
    const hw = batch.highWatermark;
    consumerLag.set({ consumer: this.o.name, topic: batch.topic, partition: String(batch.partition) }, Math.max(0, Number(BigInt(hw) - BigInt(last) - 1n)));
    await heartbeat();
  }

  private async sendToDlq(topicId: TopicId, partition: number, dead: Array<{ m: KafkaMessage; err: DecodeError }>): Promise<void> {
    const now = Date.now();
    await this.o.producer.send({
      topic: this.o.ctx.dlq(topicId),
      messages: dead.map(({ m, err }) => ({
        key: m.key,
        value: this.o.codec.encodeDeadLetter(topicId, {
          event_id: `dlq:${this.o.ctx.topic(topicId)}:${partition}:${m.offset}`,
          event_type: 'dead_letter',
          schema_version: 1,
          event_time: Number(m.timestamp) || now,
          ingest_time: now,
          original_topic: this.o.ctx.topic(topicId),
          original_partition: partition,
          original_offset: m.offset,
          stage: err.stage,
          reason: err.message,
          payload: m.value ?? Buffer.alloc(0),
        }),
      })),
    });
    for (const { err } of dead) dlqTotal.inc({ topic: this.o.ctx.topic(topicId), stage: err.stage });
    this.o.log.warn({ consumer: this.o.name, topic: this.o.ctx.topic(topicId), count: dead.length, reason: dead[0]!.err.message }, 'sent messages to DLQ');
  }
}

async function sleepWithHeartbeat(ms: number, heartbeat: () => Promise<void>, stop: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && !stop()) {
    await new Promise((r) => setTimeout(r, Math.min(1000, end - Date.now())));
    await heartbeat().catch(() => undefined);
  }
}
