// WebSocket fan-out fed from Kafka. Each API instance consumes the analytics and market topics
// in a consumer group of its own (so every instance sees every event and serves its own clients)
// and pushes each event to the sockets subscribed to its channel. A client whose send buffer
// grows past the limit is dropped with close code 4008, so one slow reader cannot grow memory.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Consumer } from 'kafkajs';
import type { WebSocket } from 'ws';
import type { KafkaContext } from '../runtime/kafka.ts';
import type { EventCodec } from '../runtime/codec.ts';
import type { Logger } from '../runtime/logger.ts';
import { wsClients, wsDropped, wsMessagesOut } from '../runtime/metrics.ts';
import type { TopicId } from '../schemas/topics.ts';

export const CHANNEL_KINDS = ['ticks', 'candles', 'indicators', 'signals', 'predictions', 'alerts'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];

const TOPIC_OF: Record<ChannelKind, TopicId> = {
  ticks: 'ticks', candles: 'candles', indicators: 'indicators', signals: 'signals', predictions: 'predictions', alerts: 'alertTriggers',
};

/** Channel name for an event: kind:symbol[:interval], or alerts:<user id> for triggers. */
export function channelOf(kind: ChannelKind, v: Record<string, unknown>): string {
  if (kind === 'alerts') return `alerts:${String(v.user_id)}`;
  const interval = typeof v.interval === 'string' && kind !== 'predictions' ? `:${v.interval}` : '';
  return `${kind}:${String(v.symbol)}${interval}`;
}

export interface ClientState { socket: WebSocket; channels: Set<string>; userId: string | null; sent: number; connectedAt: number }

export class EventFanout {
  private consumer: Consumer | null = null;
  private readonly subscribers = new Map<string, Set<ClientState>>();
  readonly clients = new Set<ClientState>();
  private readonly kindOfTopic = new Map<string, ChannelKind>();
  private delivered = 0;
  private readonly startedAt = Date.now();
  ready: Promise<void> = Promise.resolve();

  constructor(private readonly ctx: KafkaContext, private readonly codec: EventCodec, private readonly log: Logger, readonly maxBufferedBytes = 1 << 20) {
    for (const k of CHANNEL_KINDS) this.kindOfTopic.set(ctx.topic(TOPIC_OF[k]), k);
  }

  async start(): Promise<void> {
    const groupId = `tickflow-api-fanout-${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    const consumer = this.ctx.consumer({ groupId, maxWaitTimeInMs: 20 });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.kindOfTopic.keys()], fromBeginning: false });
    let resolveReady!: () => void;
    this.ready = new Promise((r) => { resolveReady = r; });
    consumer.on(consumer.events.GROUP_JOIN, () => resolveReady());
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const kind = this.kindOfTopic.get(batch.topic);
        if (!kind || !this.hasSubscribers(kind)) return; // nobody listens: nothing to decode
        for (const m of batch.messages) {
          // Ticks are keyed exchange:symbol (the topic's contract): skip decoding those for
          // symbols nobody subscribed to. Any other key is decoded and routed by its value.
          if (kind === 'ticks' && m.key) {
            const key = m.key.toString();
            const at = key.indexOf(':');
            if (at > 0 && !this.subscribers.has(`ticks:${key.slice(at + 1)}`)) continue;
          }
          let value: Record<string, unknown>;
          try {
            value = (await this.codec.decodeFor(batch.topic, m.value)) as Record<string, unknown>;
          } catch {
            continue; // the sink's DLQ records it; the fan-out just skips
          }
          this.publish(kind, value);
        }
      },
    });
  }

  private hasSubscribers(kind: ChannelKind): boolean {
    for (const channel of this.subscribers.keys()) if (channel.startsWith(`${kind}:`)) return true;
    return false;
  }

  publish(kind: ChannelKind, value: Record<string, unknown>): void {
    const channel = channelOf(kind, value);
    const subs = this.subscribers.get(channel);
    if (!subs || subs.size === 0) return;
    const frame = JSON.stringify({ op: 'event', channel, data: value });
    for (const c of subs) {
      if (c.socket.bufferedAmount > this.maxBufferedBytes) {
        wsDropped.inc({ what: 'client' });
        this.log.warn({ channel, buffered: c.socket.bufferedAmount }, 'dropping slow WebSocket client');
        c.socket.close(4008, 'client too slow: send buffer over limit');
        // The close frame waits behind the unread data; end the connection if it cannot go out.
        setTimeout(() => c.socket.terminate(), 1000).unref();
        this.remove(c);
        continue;
      }
      c.socket.send(frame);
      c.sent++;
      this.delivered++;
    }
    wsMessagesOut.inc({ channel: kind }, subs.size);
  }

  add(c: ClientState): void {
    this.clients.add(c);
    wsClients.set(this.clients.size);
  }

  subscribe(c: ClientState, channel: string): void {
    c.channels.add(channel);
    let s = this.subscribers.get(channel);
    if (!s) this.subscribers.set(channel, (s = new Set()));
    s.add(c);
  }

  unsubscribe(c: ClientState, channel: string): void {
    c.channels.delete(channel);
    const s = this.subscribers.get(channel);
    s?.delete(c);
    if (s && s.size === 0) this.subscribers.delete(channel);
  }

  remove(c: ClientState): void {
    for (const ch of [...c.channels]) this.unsubscribe(c, ch);
    this.clients.delete(c);
    wsClients.set(this.clients.size);
  }

  info() {
    const uptimeS = Math.max(1, (Date.now() - this.startedAt) / 1000);
    return {
      clients: this.clients.size,
      channels: [...this.subscribers].map(([name, s]) => ({ name, subscribers: s.size })),
      delivered_total: this.delivered,
      delivered_per_second: Math.round((this.delivered / uptimeS) * 100) / 100,
      max_buffered_bytes: this.maxBufferedBytes,
    };
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.socket.close(1001, 'server shutting down');
    await this.consumer?.disconnect();
  }
}
