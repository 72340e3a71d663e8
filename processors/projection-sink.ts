// The projection sink as one controllable unit: the ClickHouse sink consumer group, and the
// rebuild of every projection from the topics (replay): stop the sink, truncate the tables,
// rewind the group to the earliest offsets, start again and wait until it caught up.
import type { ClickHouseClient } from '@clickhouse/client';
import type { Producer } from 'kafkajs';
import type { KafkaContext } from '../runtime/kafka.ts';
import type { EventCodec } from '../runtime/codec.ts';
import type { Logger } from '../runtime/logger.ts';
import { ConsumerRunner, type RunnerOptions, type Rewind } from './consumer-runner.ts';
import { createClickHouseWriter, PROJECTION_TABLES, SINK_TOPICS } from './clickhouse-sink.ts';

export interface ProjectionSinkOptions {
  ctx: KafkaContext;
  codec: EventCodec;
  producer: Producer;
  clickhouse: ClickHouseClient;
  log: Logger;
  groupId: string;
  maxWaitMs: number;
  retryMaxMs: number;
  afterWrite?: RunnerOptions['afterWrite'];
  wrapWrite?: (write: RunnerOptions['write']) => RunnerOptions['write'];
}

export interface ReplayReport { tables: Record<string, number>; events: number; elapsed_ms: number; events_per_second: number }

export class ProjectionSink {
  runner: ConsumerRunner | null = null;
  private rebuilding: Promise<ReplayReport> | null = null;

  constructor(private readonly o: ProjectionSinkOptions) {}

  async start(rewindTo?: Rewind): Promise<void> {
    const write = (this.o.wrapWrite ?? ((w) => w))(createClickHouseWriter(this.o.clickhouse));
    this.runner = new ConsumerRunner({
      name: 'clickhouse-sink', groupId: this.o.groupId, topics: SINK_TOPICS, ctx: this.o.ctx, codec: this.o.codec,
      producer: this.o.producer, log: this.o.log, write, deadLetters: 'send', coalescePartitions: 32, maxWaitMs: this.o.maxWaitMs, retryMaxMs: this.o.retryMaxMs, afterWrite: this.o.afterWrite,
    });
    await this.runner.start(rewindTo);
  }

  async stop(): Promise<void> {
    await this.runner?.stop();
    this.runner = null;
  }

  /** Messages between the group's committed offsets and the high watermarks, over all sink topics. */
  async lag(): Promise<number> {
    const admin = this.o.ctx.admin();
    await admin.connect();
    try {
      let lag = 0n;
      const topics = SINK_TOPICS.map((id) => this.o.ctx.topic(id));
      const committed = await admin.fetchOffsets({ groupId: this.o.groupId, topics });
      const highs = await Promise.all(committed.map((t) => admin.fetchTopicOffsets(t.topic)));
      for (const [i, t] of committed.entries()) {
        for (const p of highs[i]!) {
          const c = t.partitions.find((x) => x.partition === p.partition)?.offset ?? '-1';
          const from = BigInt(c) < 0n ? BigInt(p.low) : BigInt(c);
          lag += BigInt(p.high) - from;
        }
      }
      return Number(lag);
    } finally {
      await admin.disconnect();
    }
  }

  /** Rebuild every projection from the earliest offsets. One rebuild at a time. */
  rebuild(): Promise<ReplayReport> {
    this.rebuilding ??= this.doRebuild().finally(() => { this.rebuilding = null; });
    return this.rebuilding;
  }

  private async doRebuild(): Promise<ReplayReport> {
    const started = Date.now();
    this.o.log.info('replay: stopping the sink');
    await this.stop();
    const admin = this.o.ctx.admin();
    await admin.connect();
    let events = 0;
    const lows: Rewind['offsets'] = new Map();
    try {
      const [group] = (await admin.describeGroups([this.o.groupId])).groups;
      if (group && group.members.length > 0) {
        await this.start(); // nothing truncated yet: the projections stay as they were
        throw new Error(`replay needs every ${this.o.groupId} member stopped; ${group.members.length} other member(s) still in the group (${group.members.map((m) => m.clientHost).join(', ')})`);
      }
      const topics = SINK_TOPICS.map((id) => this.o.ctx.topic(id));
      for (const [i, offsets] of (await Promise.all(topics.map((t) => admin.fetchTopicOffsets(t)))).entries()) {
        const byPartition = new Map<number, string>();
        for (const p of offsets) {
          byPartition.set(p.partition, p.low);
          events += Number(BigInt(p.high) - BigInt(p.low));
        }
        lows.set(topics[i]!, byPartition);
      }
    } finally {
      await admin.disconnect();
    }
    // Truncate only once the group's offsets are back at the start: a crash in between leaves
    // either the old projections with a replay to come (rows are idempotent), or empty tables
    // and the replay resuming, never empty tables and offsets at the end.
    await this.start({
      offsets: lows,
      prepare: async () => {
        for (const table of PROJECTION_TABLES) await this.o.clickhouse.command({ query: `TRUNCATE TABLE IF EXISTS ${table}` });
        this.o.log.info({ events }, 'replay: offsets at the earliest, projections truncated');
      },
    });
    while ((await this.lag()) > 0) await new Promise((r) => setTimeout(r, 250));
    const tables: Record<string, number> = {};
    for (const table of PROJECTION_TABLES) {
      const rs = await this.o.clickhouse.query({ query: `SELECT count() AS n FROM ${table}`, format: 'JSONEachRow' });
      tables[table] = Number((await rs.json<{ n: string }>())[0]!.n);
    }
    const elapsed = Date.now() - started;
    const report = { tables, events, elapsed_ms: elapsed, events_per_second: Math.round(events / Math.max(0.001, elapsed / 1000)) };
    this.o.log.info(report, 'replay finished');
    return report;
  }
}
