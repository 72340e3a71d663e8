// Read-after-write for the API's writes. A write is an event on Kafka (the source of truth); the
// answer waits, bounded, until the sink has projected that very event_id into ClickHouse, so a
// read right after the answer sees it — from this instance or any other, since every instance
// reads the same tables. No write-through cache to keep coherent across API instances.
import type { ClickHouseClient } from '@clickhouse/client';

export const PROJECTION_WAIT_MS = 10_000;

/** Tables the API writes into through Kafka, and the column that holds the event id. */
type ProjectedTable = 'alerts' | 'commands';

/**
 * Polls until a row with this event_id is visible in the table; true when it is, false when the
 * wait ran out (the event is durable on Kafka either way; the sink is just behind).
 */
export async function waitForProjection(client: ClickHouseClient, table: ProjectedTable, eventId: string, timeoutMs = PROJECTION_WAIT_MS): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  for (;;) {
    const rs = await client.query({
      query: `SELECT count() AS n FROM ${table} WHERE event_id = {id:String}`,
      query_params: { id: eventId },
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ n: string }>();
    if (Number(row?.n ?? 0) > 0) return true;
    if (Date.now() + delay > deadline) return false;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(250, delay * 2);
  }
}
