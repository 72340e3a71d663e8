// The one Kafka client factory: idempotent producers, consumers, and the idempotent creation of
// every catalogued topic (and its DLQ) with its partitions, cleanup policy and retention.
import { Kafka, logLevel, Partitioners, type ICustomPartitioner, type Admin, type Producer, type Consumer, type ConsumerConfig, type ITopicConfig } from 'kafkajs';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { TOPICS, INTERNAL_TOPICS, dlqName, DLQ_RETENTION_MS, type TopicId } from '../schemas/topics.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

export interface KafkaContext {
  kafka: Kafka;
  prefix: string;
  /** Physical topic name for a catalogued topic. */
  topic(id: TopicId): string;
  internal(id: keyof typeof INTERNAL_TOPICS): string;
  dlq(id: TopicId): string;
  producer(): Promise<Producer>;
  consumer(cfg: ConsumerConfig): Consumer;
  admin(): Admin;
}

const levelMap: Record<string, logLevel> = { trace: logLevel.DEBUG, debug: logLevel.DEBUG, info: logLevel.WARN, warn: logLevel.WARN, error: logLevel.ERROR, fatal: logLevel.ERROR, silent: logLevel.NOTHING };

export function createKafka(brokers: string[], cfg: Pick<Config['kafka'], 'clientId' | 'topicPrefix'>, log: Logger, level = 'info'): KafkaContext {
  const klog = log.child({ component: 'kafkajs' });
  const kafka = new Kafka({
    clientId: cfg.clientId,
    brokers,
    logLevel: levelMap[level] ?? logLevel.WARN,
    // Coordinator-loading errors right after a broker start are retriable; kafkajs logs them at
    // ERROR before retrying, which is noise, so they go to debug here.
    logCreator: () => ({ namespace, level: l, log: entry }) => {
      const { message, ...rest } = entry;
      const retriable = /coordinator is (loading|not available)|leadership election|not the correct coordinator/i.test(String(rest.error ?? ''))
        // Retries are bounded on purpose, so a dead broker surfaces as an error instead of a hang;
        // idempotence still dedupes every retry that does happen.
        || /Limiting retries for the idempotent producer/.test(String(message));
      const fields = { ns: namespace, ...rest };
      if (retriable) klog.debug(fields, message);
      else if (l === logLevel.ERROR) klog.error(fields, message);
      else if (l === logLevel.WARN) klog.warn(fields, message);
      else klog.debug(fields, message);
    },
    retry: { initialRetryTime: 200, retries: 10 },
  });
  const topic = (id: TopicId) => `${cfg.topicPrefix}${TOPICS[id].name}`;
  return {
    kafka,
    prefix: cfg.topicPrefix,
    topic,
    internal: (id) => `${cfg.topicPrefix}${INTERNAL_TOPICS[id].name}`,
    dlq: (id) => dlqName(topic(id)),
    async producer() {
      // Idempotent: the broker drops retried duplicates; acks=-1 is implied.
      const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: symbolPartitioner(new Set([topic('ticks'), topic('klines')])) });
      await p.connect();
      return serializeSends(p);
    },
    consumer: (c) => kafka.consumer({ allowAutoTopicCreation: false, ...c }),
    admin: () => kafka.admin(),
  };
}

/**
 * kafkajs' idempotent producer silently drops messages when several send() calls are in flight
 * at once (tulios/kafkajs#1005): every send on the shared producer is queued behind the last.
 */
export function serializeSends(p: Producer): Producer {
  let last: Promise<unknown> = Promise.resolve();
  const queue = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = last.then(fn, fn);
    last = run.catch(() => undefined);
    return run;
  };
  const send = p.send.bind(p);
  const sendBatch = p.sendBatch.bind(p);
  p.send = (record) => queue(() => send(record));
  p.sendBatch = (batch) => queue(() => sendBatch(batch));
  return p;
}

/**
 * Market topics keep the key `exchange:symbol[:interval]` but are partitioned by the symbol
 * alone (murmur2, as Java clients do), so one partition holds every exchange's view of a market
 * and the all-exchange candle is computed in one place even with several processor instances.
 */
export function symbolPartitioner(bySymbol: Set<string>): ICustomPartitioner {
  return () => {
    const base = Partitioners.DefaultPartitioner();
    return ({ topic, partitionMetadata, message }) => {
      if (!bySymbol.has(topic) || message.key == null) return base({ topic, partitionMetadata, message });
      const parts = message.key.toString().split(':');
      return base({ topic, partitionMetadata, message: { ...message, key: parts[1] ?? parts[0]! } });
    };
  };
}

/** Create every catalogued topic and its DLQ if missing; existing topics are left as they are. */
export async function ensureTopics(ctx: KafkaContext, replicationFactor: number, log: Logger): Promise<string[]> {
  const admin = ctx.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted: ITopicConfig[] = [];
    for (const [id, spec] of Object.entries(TOPICS) as Array<[TopicId, (typeof TOPICS)[TopicId]]>) {
      wanted.push({
        topic: ctx.topic(id),
        numPartitions: spec.partitions,
        replicationFactor,
        configEntries: [
          { name: 'cleanup.policy', value: spec.cleanupPolicy },
          { name: 'retention.ms', value: String(spec.retentionMs) },
          ...(spec.cleanupPolicy === 'compact' ? [{ name: 'min.cleanable.dirty.ratio', value: '0.1' }] : []),
        ],
      });
      wanted.push({
        topic: ctx.dlq(id),
        numPartitions: 1,
        replicationFactor,
        configEntries: [{ name: 'retention.ms', value: String(DLQ_RETENTION_MS) }],
      });
    }
    for (const id of Object.keys(INTERNAL_TOPICS) as Array<keyof typeof INTERNAL_TOPICS>) {
      wanted.push({
        topic: ctx.internal(id),
        numPartitions: INTERNAL_TOPICS[id].partitions,
        replicationFactor,
        configEntries: [
          { name: 'cleanup.policy', value: 'compact' },
          { name: 'min.cleanable.dirty.ratio', value: '0.1' },
          { name: 'segment.ms', value: '600000' },
          { name: 'max.message.bytes', value: String(32 * 1024 * 1024) },
        ],
      });
    }
    const missing = wanted.filter((t) => !existing.has(t.topic));
    if (missing.length > 0) {
      try {
        await admin.createTopics({ topics: missing, waitForLeaders: true });
      } catch (err) {
        // Another instance may have created some of them at the same moment.
        if (!/already exists/i.test(String((err as Error).message))) throw err;
      }
      log.info({ created: missing.map((t) => t.topic) }, 'created topics');
    }
    return wanted.map((t) => t.topic);
  } finally {
    await admin.disconnect();
  }
}
