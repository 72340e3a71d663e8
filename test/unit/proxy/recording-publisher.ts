// A publisher that records what the proxy pollers publish and reject, and a logger whose lines a
// test can read; polls wait for behaviour with a generous deadline, never for speed.
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { Rejected } from '../../../ingest/tick-publisher.ts';
import type { ProxyPublisher } from '../../../ingest/proxy/proxy-poller.ts';
import type { ControlEvent, ProxySnapshot } from '../../../schemas/generated/events.ts';
import type { TopicId, TopicValue } from '../../../schemas/topics.ts';

export class RecordingPublisher implements ProxyPublisher {
  readonly snapshots: Array<{ key: string; value: ProxySnapshot }> = [];
  readonly statuses: Array<{ key: string; value: ControlEvent }> = [];
  readonly rejected: Rejected[] = [];

  async publish<K extends TopicId>(topicId: K, events: Array<{ key: string; value: TopicValue[K] }>): Promise<{ sent: number; rejected: number }> {
    for (const e of events) {
      if (topicId === 'proxySnapshots') this.snapshots.push(e as { key: string; value: ProxySnapshot });
      else if (topicId === 'controlEvents') this.statuses.push(e as { key: string; value: ControlEvent });
    }
    return { sent: events.length, rejected: 0 };
  }

  async reject(items: Rejected[]): Promise<void> {
    this.rejected.push(...items);
  }

  statusesOf(source: string): Array<Record<string, unknown>> {
    return this.statuses.filter((s) => s.key === `proxy:${source}`).map((s) => JSON.parse(s.value.payload_json) as Record<string, unknown>);
  }
}

export function captureLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk: Buffer, _e, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } });
  return { log: pino({ level: 'info' }, stream), lines };
}

export async function until<T>(probe: () => T | undefined | null | false, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
