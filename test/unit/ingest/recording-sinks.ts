// Sinks that record what an exchange connection or ingestor published, plus a poll-until helper
// with a generous deadline (tests wait for behaviour, they never assert speed).
import type { Kline, Tick } from '../../../schemas/generated/events.ts';
import type { ExchangeSinks } from '../../../ingest/exchange/exchange-connection.ts';
import type { IngestRejection, StatusKind, StatusOf, StatusUpdate } from '../../../ingest/exchange/status-events.ts';

export class RecordingSinks implements ExchangeSinks {
  readonly ticks: Tick[] = [];
  readonly klines: Kline[] = [];
  readonly rejects: IngestRejection[] = [];
  readonly statuses: StatusUpdate[] = [];

  onTick = (tick: Tick): void => {
    this.ticks.push(tick);
  };

  onKline = (kline: Kline): void => {
    this.klines.push(kline);
  };

  onReject = (rejection: IngestRejection): void => {
    this.rejects.push(rejection);
  };

  onStatus = (update: StatusUpdate): void => {
    this.statuses.push(update);
  };

  of<K extends StatusKind>(kind: K): StatusOf<K>[] {
    return this.statuses.filter((s): s is StatusOf<K> => s.kind === kind);
  }
}

export async function eventually<T>(probe: () => T | undefined | null | false, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The invariants nothing published on market.ticks.v1 may break. */
export function tickProblems(tick: Tick, now: number): string[] {
  const problems: string[] = [];
  for (const [name, value] of [['last', tick.last], ['bid', tick.bid], ['ask', tick.ask]] as const) {
    if (value !== null && !(Number.isFinite(value) && value > 0)) problems.push(`${name}=${value}`);
  }
  if (tick.bid !== null && tick.ask !== null && tick.bid > tick.ask) problems.push(`bid ${tick.bid} > ask ${tick.ask}`);
  if (tick.event_time > now + 5_000) problems.push(`future event_time ${tick.event_time}`);
  return problems;
}
