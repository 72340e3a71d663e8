// Alerts on model predictions. Predictions are keyed by symbol:horizon, not partitioned like the
// ticks the analytics topology consumes, so they get a consumer group of their own: definitions
// from the compacted alerts.events.v1, cooldown and once-only state restored from the trigger
// history in ClickHouse, triggers published on alerts.triggers.v1 (deterministic ids, so a
// redelivered prediction fires nothing new).
import type { ClickHouseClient } from '@clickhouse/client';
import type { Producer } from 'kafkajs';
import type { KafkaContext } from '../runtime/kafka.ts';
import type { EventCodec } from '../runtime/codec.ts';
import type { Logger } from '../runtime/logger.ts';
import type { EventPublisher } from '../ingest/tick-publisher.ts';
import type { AlertEvent, AlertTrigger, Prediction } from '../schemas/generated/events.ts';
import { AlertTriggerProcessor } from './alerts/alert-trigger-processor.ts';
import { ConsumerRunner } from './consumer-runner.ts';
import { TopicTail } from './topic-tail.ts';

export class PredictionAlerts {
  private readonly alerts = new AlertTriggerProcessor();
  private tail: TopicTail | null = null;
  private runner: ConsumerRunner | null = null;

  constructor(private readonly d: { ctx: KafkaContext; codec: EventCodec; producer: Producer; publisher: EventPublisher; clickhouse: ClickHouseClient; log: Logger; groupId: string }) {}

  async start(): Promise<void> {
    this.tail = new TopicTail(this.d.ctx, this.d.ctx.topic('alertEvents'), async (m) => {
      let e: AlertEvent;
      try { e = await this.d.codec.decode('alertEvents', m.value); } catch { return; }
      this.alerts.apply(e);
    });
    await this.tail.start({ follow: true });
    const rs = await this.d.clickhouse.query({
      query: `SELECT alert_id, user_id, alert_type, symbol, value, threshold, message, event_id,
                     toUnixTimestamp64Milli(event_time) AS event_time, toUnixTimestamp64Milli(ingest_time) AS ingest_time
              FROM alert_triggers FINAL WHERE alert_type = 'prediction' ORDER BY event_time`,
      format: 'JSONEachRow',
    });
    for (const r of await rs.json<Record<string, unknown>>()) {
      this.alerts.restoreTrigger({ ...(r as unknown as AlertTrigger), event_type: 'alert_trigger', schema_version: 1, event_time: Number(r.event_time), ingest_time: Number(r.ingest_time) });
    }
    this.runner = new ConsumerRunner({
      name: 'prediction-alerts', groupId: this.d.groupId, topics: ['predictions'], ctx: this.d.ctx, codec: this.d.codec,
      producer: this.d.producer, log: this.d.log, maxWaitMs: 200,
      write: async (records) => {
        const triggers = records.flatMap((r) => this.alerts.process({ topic: 'predictions', value: r.value as Prediction }));
        if (triggers.length) await this.d.publisher.publish('alertTriggers', triggers.map((t) => ({ key: t.alert_id, value: t })));
      },
    });
    await this.runner.start();
  }

  async stop(): Promise<void> {
    await this.runner?.stop();
    await this.tail?.stop();
  }
}
