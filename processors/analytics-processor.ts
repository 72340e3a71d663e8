// Runs the market analytics topology on Kafka: consumes market.ticks.v1 as a consumer group
// (instances split the partitions), keeps one MarketAnalytics per partition, publishes candles,
// indicators, signals and alert triggers, and checkpoints each partition's state to a compacted
// changelog before committing its offsets. A restarted or rebalanced instance reloads that state
// and skips the records it already reflects, so outputs are the same as without the crash.
import { CompressionTypes, type Producer } from 'kafkajs';
import type { ClickHouseClient } from '@clickhouse/client';
import type { KafkaContext } from '../runtime/kafka.ts';
import type { EventCodec } from '../runtime/codec.ts';
import type { Logger } from '../runtime/logger.ts';
import type { EventPublisher, PublishGroup } from '../ingest/tick-publisher.ts';
import type { AlertEvent, Candle, Tick } from '../schemas/generated/events.ts';
import type { TopicId } from '../schemas/topics.ts';
import { ConsumerRunner, type ConsumedRecord } from './consumer-runner.ts';
import { MarketAnalytics, type MarketAnalyticsOptions, type MarketAnalyticsState, type Output } from './market-analytics.ts';
import { TopicTail } from './topic-tail.ts';

export interface AnalyticsProcessorDeps {
  ctx: KafkaContext;
  codec: EventCodec;
  producer: Producer;
  publisher: EventPublisher;
  clickhouse: ClickHouseClient;
  log: Logger;
  groupId: string;
  checkpointMs?: number;
  options?: MarketAnalyticsOptions;
}

interface Checkpoint { offset: string; state: MarketAnalyticsState }

export class AnalyticsProcessor {
  private readonly topologies = new Map<number, MarketAnalytics>();
  private checkpoints = new Map<number, Checkpoint>();
  private stateReady: Promise<void> = Promise.resolve();
  private readonly alertDefs = new Map<string, AlertEvent>();
  private alertsTail: TopicTail | null = null;
  private runner: ConsumerRunner | null = null;

  constructor(private readonly d: AnalyticsProcessorDeps) {}

  async start(): Promise<void> {
    // Alert definitions first: the compacted topic is the source of the rules.
    const alertsTopic = this.d.ctx.topic('alertEvents');
    this.alertsTail = new TopicTail(this.d.ctx, alertsTopic, async (m) => {
      let e: AlertEvent;
      try { e = await this.d.codec.decode('alertEvents', m.value); } catch { return; } // the sink DLQs it
      this.alertDefs.set(e.alert_id, e);
      for (const t of this.topologies.values()) t.applyAlertEvent(e);
    });
    await this.alertsTail.start({ follow: true });
    this.d.log.info({ alerts: this.alertDefs.size }, 'alert definitions loaded');

    this.runner = new ConsumerRunner({
      name: 'analytics',
      groupId: this.d.groupId,
      topics: ['ticks'],
      ctx: this.d.ctx,
      codec: this.d.codec,
      producer: this.d.producer,
      log: this.d.log,
      maxWaitMs: 100,
      write: (records) => this.process(records),
      checkpoint: { everyMs: this.d.checkpointMs ?? 5000, save: (_topic, partition, next) => this.save(partition, next) },
      onGroupJoin: () => { this.topologies.clear(); this.stateReady = this.loadCheckpoints(); },
    });
    await this.runner.start();
  }

  /** Partitions this instance holds state for. */
  get partitions(): number[] {
    return [...this.topologies.keys()].sort((a, b) => a - b);
  }

  async stop(): Promise<void> {
    await this.runner?.stop();
    await this.alertsTail?.stop();
  }

  private async loadCheckpoints(): Promise<void> {
    const found = new Map<number, Checkpoint>();
    await new TopicTail(this.d.ctx, this.d.ctx.internal('analyticsState'), (m) => {
      if (!m.key || !m.value) return;
      found.set(Number(m.key.toString()), JSON.parse(m.value.toString()) as Checkpoint);
    }).start({ follow: false });
    this.checkpoints = found;
    this.d.log.info({ partitions: [...found.keys()] }, 'analytics state loaded from changelog');
  }

  private topology(partition: number): MarketAnalytics {
    let t = this.topologies.get(partition);
    if (!t) {
      const cp = this.checkpoints.get(partition);
      t = cp ? MarketAnalytics.restore(cp.state, this.d.options ?? {}, [...this.alertDefs.values()]) : new MarketAnalytics(this.d.options ?? {}, [...this.alertDefs.values()]);
      this.topologies.set(partition, t);
    }
    return t;
  }

  private async process(records: ConsumedRecord[]): Promise<void> {
    await this.stateReady;
    const out: Output[] = [];
    for (const r of records) {
      const partition = r.partition;
      const t = this.topology(partition);
      const cp = this.checkpoints.get(partition);
      // Records before the checkpoint's offset are already in the restored state.
      if (cp && BigInt(r.offset) < BigInt(cp.offset)) continue;
      const tick = r.value as Tick;
      if (!t.knows(tick.exchange, tick.symbol) && !this.symbolWarm(t, tick.symbol)) {
        t.warm(await this.history(tick.symbol));
      }
      out.push(...t.processTick(tick));
    }
    await this.publish(out);
  }

  private warmSymbols = new WeakMap<MarketAnalytics, Set<string>>();
  private symbolWarm(t: MarketAnalytics, symbol: string): boolean {
    let s = this.warmSymbols.get(t);
    if (!s) this.warmSymbols.set(t, (s = new Set()));
    if (s.has(symbol)) return true;
    s.add(symbol);
    return false;
  }

  /** Recent final candles of a symbol (all exchanges and '*') from ClickHouse, for warm-up. */
  private async history(symbol: string): Promise<Candle[]> {
    const rs = await this.d.clickhouse.query({
      query: `SELECT event_id, toUnixTimestamp64Milli(event_time) AS event_time, toUnixTimestamp64Milli(ingest_time) AS ingest_time,
                     exchange, symbol, interval, toUnixTimestamp64Milli(open_time) AS open_time, toUnixTimestamp64Milli(close_time) AS close_time,
                     open, high, low, close, volume, trades, is_final, revision
              FROM candles FINAL WHERE symbol = {symbol:String} AND is_final
              ORDER BY open_time DESC LIMIT {n:UInt32} BY exchange, interval`,
      query_params: { symbol, n: 120 },
      format: 'JSONEachRow',
    });
    const rows = await rs.json<Record<string, unknown>>();
    return rows.map((r) => ({
      event_id: String(r.event_id), event_type: 'candle', schema_version: 1,
      event_time: Number(r.event_time), ingest_time: Number(r.ingest_time),
      exchange: String(r.exchange), symbol: String(r.symbol), interval: String(r.interval),
      open_time: Number(r.open_time), close_time: Number(r.close_time),
      open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close), volume: Number(r.volume),
      trades: Number(r.trades), is_final: Boolean(r.is_final), revision: Number(r.revision),
    }));
  }

  private async publish(out: Output[]): Promise<void> {
    const byTopic = new Map<TopicId, Array<{ key: string; value: never }>>();
    for (const o of out) {
      let list = byTopic.get(o.topicId);
      if (!list) byTopic.set(o.topicId, (list = []));
      list.push({ key: o.key, value: o.value as never });
    }
    await this.d.publisher.publishAll([...byTopic].map(([topicId, events]) => ({ topicId, events }) as PublishGroup));
  }

  private async save(partition: number, next: string): Promise<void> {
    const t = this.topologies.get(partition);
    // No state for a partition with progress means it was just reassigned: committing its offset
    // without the matching state would lose the records in between.
    if (!t) throw new Error(`no analytics state for partition ${partition}; not checkpointing it`);
    // Serialized synchronously: the state matches `next` even if a batch runs during the send.
    const cp: Checkpoint = { offset: next, state: t.snapshot() };
    const value = JSON.stringify(cp);
    this.checkpoints.set(partition, cp);
    await this.d.producer.send({ topic: this.d.ctx.internal('analyticsState'), compression: CompressionTypes.GZIP, messages: [{ key: String(partition), value }] });
  }
}
