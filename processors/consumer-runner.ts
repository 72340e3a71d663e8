// The one runner that drives every processor and the sink from Kafka: decode with the registry,
// send undecodable or invalid messages to the topic's DLQ, hand the batch to the processor's
// write, and commit offsets only after that write succeeded. While writes fail it pauses the
// partition and retries with backoff, so memory holds one batch and nothing is committed early.
import type { Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import type { KafkaContext } from '../runtime/kafka.ts';
import { DecodeError, type EventCodec } from '../runtime/codec.ts';
import type { Logger } from '../runtime/logger.ts';
import { consumerLag, consumerPaused, dlqTotal, eventsIn, sinkWriteFailures, skippedUndecodable } from '../runtime/metrics.ts';
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
  /**
   * Stateful processors commit only at checkpoints: every `everyMs` (and on stop) `save` gets
   * the next offset of each partition processed since the last one and must persist the state
   * that corresponds to it (or throw: then nothing is committed); the offsets are committed
   * after it resolved. Checkpoints never overlap a batch.
   */
  checkpoint?: { everyMs: number; save(topic: string, partition: number, nextOffset: string): Promise<void> };
  /**
   * Whether this consumer writes undecodable records to the topic's DLQ. Exactly one consumer
   * owns each topic's DLQ (the ClickHouse sink, which reads every topic); the others skip such
   * records and count them, so a bad message is dead-lettered once.
   */
  deadLetters?: 'send' | 'skip';
  /** Called when the group (re)assigns partitions: in-memory state must be reloaded. */
  onGroupJoin?: () => void;
  /**
   * Stateless consumers only (no checkpoint): take up to this many partitions' batches at once
   * and hand the records decoded in the same turn of the event loop to ONE write, so a fetch
   * over many partitions costs one insert per table instead of one per partition. Each batch
   * still commits its own offsets, only after the write that carried it succeeded.
   */
  coalescePartitions?: number;
}

/** A replay's start: topic name -> partition -> offset (the low watermarks), and what to do
 * once those offsets are committed and before the first batch is written (truncate). */
export interface Rewind { offsets: Map<string, Map<number, string>>; prepare(): Promise<void> }

export class ConsumerRunner {
  readonly consumer: Consumer;
  private running = false;
  private stopping = false;
  private readonly byName = new Map<string, TopicId>();
  private processed = 0;
  /** topic|partition -> next offset processed but not yet committed (checkpoint mode). */
  private readonly pending = new Map<string, { topic: string; partition: number; offset: string }>();
  private lastCheckpoint = Date.now();
  private readonly inBatches = new Set<Promise<void>>();
  /** Batches wait for the group-join handling (a replay's commit and truncate) to finish. */
  private joined: Promise<unknown> = Promise.resolve();
  private coalesced: { records: ConsumedRecord[]; done: Promise<void> } | null = null;
  /** Stateless and asked to: batches of several partitions at once share one write. */
  private readonly coalescing: boolean;
  private timer: NodeJS.Timeout | null = null;
  /** Batches, checkpoints and group joins run one at a time, so state and offsets agree. */
  private lock: Promise<unknown> = Promise.resolve();
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  constructor(private readonly o: RunnerOptions) {
    this.consumer = o.ctx.consumer({
      groupId: o.groupId,
      maxWaitTimeInMs: o.maxWaitMs ?? 250,
      maxBytesPerPartition: o.maxBytesPerPartition ?? 2 * 1024 * 1024,
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
    });
    for (const id of o.topics) this.byName.set(o.ctx.topic(id), id);
    this.coalescing = !o.checkpoint && (o.coalescePartitions ?? 1) > 1;
  }

  get processedCount(): number { return this.processed; }
  /** Records decoded and held while their write runs or is retried: at most one fetch's batches. */
  heldRecords = 0;
  maxHeldRecords = 0;
  private pausedPartitions = 0;
  /** Whether some partition is paused because its write keeps failing. */
  get paused(): boolean { return this.pausedPartitions > 0; }

  /**
   * `rewindTo`: on the first group join, start every assigned partition from the given offset,
   * commit those offsets, run `prepare`, and only then let the first batch through; start()
   * resolves once that is done and rejects if it failed. A crash
   * after the commit resumes the replay instead of skipping it. One join instead of a throwaway
   * consumer group session per topic, which is what kafkajs' admin.resetOffsets costs (about
   * 5 s a topic). The group must have no other member.
   */
  async start(rewindTo?: Rewind): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [...this.byName.keys()], fromBeginning: this.o.fromBeginning ?? true });
    this.running = true;
    if (this.o.checkpoint) {
      // Idle streams still checkpoint, so a quiet partition does not sit uncommitted.
      this.timer = setInterval(() => {
        if (Date.now() - this.lastCheckpoint >= this.o.checkpoint!.everyMs && !this.stopping) {
          void this.exclusive(() => this.checkpointNow()).catch((err: Error) => this.o.log.warn({ consumer: this.o.name, err: err.message }, 'checkpoint failed; retrying'));
        }
      }, Math.max(100, Math.floor(this.o.checkpoint.everyMs / 2)));
    }
    let rewind = rewindTo;
    // Settles as the rewind's join handling does (resolving with that promise adopts its state).
    let onRewound: ((handled: Promise<unknown>) => void) | null = null;
    const rewound = rewindTo ? new Promise<unknown>((r) => { onRewound = r; }) : null;
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      // kafkajs emits GROUP_JOIN synchronously before its first fetch, so seeks set here
      // apply to that fetch.
      const seeks: Array<{ topic: string; partition: number; offset: string }> = [];
      if (rewind) {
        for (const [topic, partitions] of Object.entries(e.payload.memberAssignment)) {
          for (const partition of partitions) {
            const offset = rewind.offsets.get(topic)?.get(partition);
            if (offset !== undefined) seeks.push({ topic, partition, offset });
          }
        }
        for (const s of seeks) this.consumer.seek(s);
      }
      const prepare = rewind?.prepare;
      rewind = undefined;
      // Uncommitted progress belongs to state this instance is about to drop; stateful
      // processors restart each assigned partition from its committed offset, which is where
      // their checkpointed state stands.
      const handled = this.exclusive(async () => {
        this.pending.clear();
        if (prepare) {
          await this.commitVerified(seeks);
          this.o.log.info({ consumer: this.o.name, partitions: seeks.length }, 'rewound to the replay start offsets and committed them');
          await prepare();
        } else if (this.o.checkpoint) await this.seekToCommitted(e.payload.memberAssignment);
        this.o.onGroupJoin?.();
      });
      if (prepare) onRewound?.(handled);
      this.joined = handled.catch((err: Error) => this.o.log.error({ consumer: this.o.name, err: err.message }, 'rejoin handling failed'));
    });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.coalescing ? this.o.coalescePartitions! : 1,
      // Checkpointed processors run batches one at a time under the lock, so state and offsets
      // agree; coalescing consumers only wait for the join handling.
      eachBatch: (p) => this.track(this.coalescing ? this.joined.then(() => this.onBatch(p)) : this.exclusive(() => this.onBatch(p))),
    });
    if (rewound) await rewound;
  }

  /** Stop fetching, let the batch in flight finish (write + commit), checkpoint, disconnect. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    if (this.running) {
      this.consumer.pause(this.o.topics.map((id) => ({ topic: this.o.ctx.topic(id) })));
      await Promise.allSettled([...this.inBatches]);
      await this.exclusive(() => this.checkpointNow()).catch((err: Error) => this.o.log.error({ consumer: this.o.name, err: err.message }, 'final checkpoint failed; the next start replays from the last one'));
      await this.consumer.disconnect();
    }
    this.running = false;
  }

  private track(batch: Promise<void>): Promise<void> {
    this.inBatches.add(batch);
    const untrack = () => { this.inBatches.delete(batch); };
    batch.then(untrack, untrack);
    return batch;
  }

  /** The processor's write, shared by the batches decoded in the same turn when coalescing. */
  private write(records: ConsumedRecord[]): Promise<void> {
    if (!this.coalescing) return this.o.write(records);
    if (!this.coalesced) {
      const group: ConsumedRecord[] = [];
      const done = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          if (this.coalesced?.records === group) this.coalesced = null;
          this.o.write(group).then(resolve, reject);
        });
      });
      this.coalesced = { records: group, done };
    }
    for (const r of records) this.coalesced.records.push(r);
    return this.coalesced.done;
  }

  /**
   * kafkajs drops commitOffsets silently while its runner is not yet marked running, which is
   * the case during the first join; so commit, read the offsets back, and retry until they hold.
   */
  private async commitVerified(offsets: Array<{ topic: string; partition: number; offset: string }>): Promise<void> {
    if (offsets.length === 0) return;
    const topics = [...new Set(offsets.map((o) => o.topic))];
    const admin = this.o.ctx.admin();
    await admin.connect();
    try {
      for (let attempt = 0; ; attempt++) {
        await new Promise((r) => setTimeout(r, attempt === 0 ? 0 : 50));
        await this.consumer.commitOffsets(offsets);
        const committed = new Map<string, string>();
        for (const t of await admin.fetchOffsets({ groupId: this.o.groupId, topics })) {
          for (const p of t.partitions) committed.set(`${t.topic}|${p.partition}`, p.offset);
        }
        if (offsets.every((o) => committed.get(`${o.topic}|${o.partition}`) === o.offset)) return;
        if (attempt >= 100) throw new Error(`${this.o.name}: the group did not take the replay start offsets after ${attempt + 1} commits`);
      }
    } finally {
      await admin.disconnect();
    }
  }

  private async seekToCommitted(assignment: Record<string, number[]>): Promise<void> {
    const admin = this.o.ctx.admin();
    await admin.connect();
    try {
      for (const [topic, partitions] of Object.entries(assignment)) {
        const committed = (await admin.fetchOffsets({ groupId: this.o.groupId, topics: [topic] }))[0]?.partitions ?? [];
        const ends = await admin.fetchTopicOffsets(topic);
        for (const partition of partitions) {
          const c = committed.find((x) => x.partition === partition)?.offset ?? '-1';
          const offset = BigInt(c) >= 0n ? c : (ends.find((x) => x.partition === partition)?.low ?? '0');
          this.consumer.seek({ topic, partition, offset });
        }
      }
    } finally {
      await admin.disconnect();
    }
  }

  private async checkpointNow(): Promise<void> {
    if (!this.o.checkpoint || this.pending.size === 0) return;
    const todo = [...this.pending.values()];
    for (const p of todo) await this.o.checkpoint.save(p.topic, p.partition, p.offset);
    await this.consumer.commitOffsets(todo);
    for (const p of todo) if (this.pending.get(`${p.topic}|${p.partition}`)?.offset === p.offset) this.pending.delete(`${p.topic}|${p.partition}`);
    this.lastCheckpoint = Date.now();
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
    this.heldRecords += good.length;
    this.maxHeldRecords = Math.max(this.maxHeldRecords, this.heldRecords);
    try {
      for (;;) {
        if (!isRunning() || isStale()) return; // uncommitted; redelivered after rebalance/restart
        try {
          if (dead.length) {
            if ((this.o.deadLetters ?? 'skip') === 'send') await this.sendToDlq(topicId, batch.partition, dead);
            else {
              skippedUndecodable.inc({ consumer: this.o.name, topic: batch.topic }, dead.length);
              this.o.log.debug({ consumer: this.o.name, topic: batch.topic, count: dead.length }, 'skipped undecodable messages (the sink dead-letters them)');
            }
          }
          dead.length = 0;
          if (good.length) await this.write(good);
          break;
        } catch (err) {
          attempt++;
          sinkWriteFailures.inc({ consumer: this.o.name });
          if (!resume) {
            // Pausing stops kafkajs fetching more for this partition while we hold the batch.
            resume = pause();
            this.pausedPartitions++;
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
        this.o.log.info({ consumer: this.o.name, topic: batch.topic, partition: batch.partition, attempts: attempt }, 'writes recovered; partition resumed');
      }
    } finally {
      this.heldRecords -= good.length;
      if (resume) {
        this.pausedPartitions--;
        if (this.pausedPartitions === 0) consumerPaused.set({ consumer: this.o.name }, 0);
      }
    }
    await this.o.afterWrite?.(good);
    const last = batch.lastOffset();
    // kafkajs advances its fetch position only past resolved offsets; unresolved, the same
    // batch would be fetched again.
    resolveOffset(last);
    const next = (BigInt(last) + 1n).toString();
    if (this.o.checkpoint) {
      this.pending.set(`${batch.topic}|${batch.partition}`, { topic: batch.topic, partition: batch.partition, offset: next });
      if (Date.now() - this.lastCheckpoint >= this.o.checkpoint.everyMs) await this.checkpointNow(); // already under the lock
    } else {
      await this.consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]);
    }
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
