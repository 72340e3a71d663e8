// Commands addressed to the processors (target "processors") from control.commands.v1: today
// `replay`, which rebuilds every ClickHouse projection from the topics. One consumer group, so
// one instance carries each command out; the result is published on control.events.v1.
import type { KafkaContext } from '../runtime/kafka.ts';
import type { EventCodec } from '../runtime/codec.ts';
import type { Logger } from '../runtime/logger.ts';
import type { Producer } from 'kafkajs';
import type { EventPublisher } from '../ingest/tick-publisher.ts';
import type { Command } from '../schemas/generated/events.ts';
import { ConsumerRunner } from './consumer-runner.ts';
import type { ProjectionSink } from './projection-sink.ts';

export const PROCESSORS_TARGET = 'processors';

export class ProcessorCommands {
  private runner: ConsumerRunner | null = null;
  private inFlight = new Set<Promise<void>>();

  constructor(private readonly d: { ctx: KafkaContext; codec: EventCodec; producer: Producer; publisher: EventPublisher; log: Logger; groupId: string; sink: ProjectionSink }) {}

  async start(): Promise<void> {
    this.runner = new ConsumerRunner({
      name: 'processor-commands', groupId: this.d.groupId, topics: ['commands'], ctx: this.d.ctx, codec: this.d.codec,
      producer: this.d.producer, log: this.d.log, fromBeginning: false, maxWaitMs: 200,
      write: async (records) => {
        for (const r of records) {
          const c = r.value as Command;
          if (c.target !== PROCESSORS_TARGET) continue;
          // Long work runs beside the consumer, so its group session stays alive.
          const p = this.handle(c).finally(() => this.inFlight.delete(p));
          this.inFlight.add(p);
        }
      },
    });
    await this.runner.start();
  }

  private async handle(c: Command): Promise<void> {
    const at = Date.now();
    const event = (kind: string, payload: unknown) => ({
      key: PROCESSORS_TARGET,
      value: { event_id: `${c.event_id}:${kind}`, event_type: 'control', schema_version: 1, event_time: Date.now(), ingest_time: Date.now(), source: PROCESSORS_TARGET, kind, command_id: c.event_id, payload_json: JSON.stringify(payload) },
    });
    if (c.command !== 'replay') {
      await this.d.publisher.publish('controlEvents', [event('command.rejected', { command: c.command, reason: `unknown processors command "${c.command}"` })]);
      return;
    }
    this.d.log.info({ command_id: c.event_id, by: c.requested_by }, 'replay requested');
    await this.d.publisher.publish('controlEvents', [event('replay.started', { requested_at: c.event_time, started_at: at })]);
    try {
      const report = await this.d.sink.rebuild();
      await this.d.publisher.publish('controlEvents', [event('replay.finished', report)]);
    } catch (err) {
      this.d.log.error({ err: (err as Error).message }, 'replay failed');
      await this.d.publisher.publish('controlEvents', [event('replay.failed', { error: (err as Error).message })]);
    }
  }

  async stop(): Promise<void> {
    await this.runner?.stop();
    await Promise.allSettled([...this.inFlight]);
  }
}
