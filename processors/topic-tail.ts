// Reads a topic from the beginning in a consumer group of its own (every instance sees every
// record) and reports when it has caught up with the high watermarks seen at start. Used for
// compacted topics that rebuild state: alert definitions and processor changelogs.
import { randomUUID } from 'node:crypto';
import type { Consumer, KafkaMessage } from 'kafkajs';
import type { KafkaContext } from '../runtime/kafka.ts';

export class TopicTail {
  private consumer: Consumer | null = null;

  constructor(private readonly ctx: KafkaContext, private readonly topic: string, private readonly onMessage: (m: KafkaMessage, partition: number) => Promise<void> | void) {}

  /** Resolves once every record that existed at start has been handed to onMessage. */
  async start(opts: { follow: boolean }): Promise<void> {
    const admin = this.ctx.admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(this.topic);
    await admin.disconnect();
    const remaining = new Map(offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high) - 1n]));
    if (remaining.size === 0 && !opts.follow) return;
    const consumer = this.ctx.consumer({ groupId: `tickflow-tail-${randomUUID()}`, maxWaitTimeInMs: 100 });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    let done!: () => void;
    const caughtUp = new Promise<void>((r) => { done = r; });
    if (remaining.size === 0) done();
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message, partition }) => {
        await this.onMessage(message, partition);
        const last = remaining.get(partition);
        if (last !== undefined && BigInt(message.offset) >= last) {
          remaining.delete(partition);
          if (remaining.size === 0) done();
        }
      },
    });
    await caughtUp;
    if (!opts.follow) await this.stop();
  }

  async stop(): Promise<void> {
    const c = this.consumer;
    this.consumer = null;
    await c?.disconnect();
  }
}
