// The ClickHouse sink: projects every catalogued topic into its table. Rows are the events
// themselves (columns are named after the Avro fields); idempotent because every table is a
// ReplacingMergeTree keyed on the event's identity.
import type { ClickHouseClient } from '@clickhouse/client';
import { TOPICS, type TopicId } from '../schemas/topics.ts';
import type { AlertEvent } from '../schemas/generated/events.ts';
import { sinkBatchSeconds, sinkRowsTotal } from '../runtime/metrics.ts';
import type { ConsumedRecord } from './consumer-runner.ts';

/** Topics whose row differs from the event; all others insert the event as it is. */
const rowMappers: Partial<Record<TopicId, (v: never) => Record<string, unknown>>> = {
  alertEvents: (e: AlertEvent) => ({
    alert_id: e.alert_id, user_id: e.user_id, kind: e.kind, event_id: e.event_id, event_time: e.event_time, ingest_time: e.ingest_time,
    ...(e.definition ?? { alert_type: '', symbol: '', exchange: null, interval: null, params: {}, cooldown_ms: 0, repeat: false, active: false, note: null }),
  }),
};

export const SINK_TOPICS = (Object.keys(TOPICS) as TopicId[]).filter((id) => TOPICS[id].table !== null);

export function createClickHouseWriter(client: ClickHouseClient, chunkRows = 50_000) {
  return async function write(records: ConsumedRecord[]): Promise<void> {
    const byTable = new Map<string, Array<Record<string, unknown>>>();
    for (const r of records) {
      const table = TOPICS[r.topicId].table!;
      const map = rowMappers[r.topicId] as ((v: unknown) => Record<string, unknown>) | undefined;
      const row = map ? map(r.value) : (r.value as unknown as Record<string, unknown>);
      let rows = byTable.get(table);
      if (!rows) byTable.set(table, (rows = []));
      rows.push(row);
    }
    for (const [table, rows] of byTable) {
      for (let i = 0; i < rows.length; i += chunkRows) {
        const chunk = rows.slice(i, i + chunkRows);
        const end = sinkBatchSeconds.startTimer({ table });
        await client.insert({ table, values: chunk, format: 'JSONEachRow', clickhouse_settings: { input_format_skip_unknown_fields: 1 } });
        end();
        sinkRowsTotal.inc({ table }, chunk.length);
      }
    }
  };
}

/** Every projection table, including those fed by materialized views. */
export const PROJECTION_TABLES = [...new Set(SINK_TOPICS.map((id) => TOPICS[id].table!)), 'latest_ticks'];
