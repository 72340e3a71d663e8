// What the exchange ingestors tell the rest of the system besides market data: typed status
// updates (connection up/down, heartbeats, failover, backfill, completeness, command results) and
// rejections. toControlEvent / toDeadLetter turn them into the control.events.v1 and *.dlq
// records, so the runtime only publishes.
import { createHash } from 'node:crypto';
import type { ControlEvent, DeadLetter, Kline, Tick } from '../../schemas/generated/events.ts';
import type { CompletenessReport, TimeRange } from './completeness.ts';
import type { FailoverSnapshot, SwitchReason, ExchangeHealth } from './exchange-failover.ts';
import type { RetryConfig } from './retry-policy.ts';
import type { RejectCode } from './tick-quality-gate.ts';

export const CONTROL_EVENT_TYPE = 'control';
export const DEAD_LETTER_EVENT_TYPE = 'dead_letter';

export type ConnectionState = 'idle' | 'connecting' | 'up' | 'backoff' | 'failed' | 'stopped';
export type FeedTransport = 'websocket' | 'rest';
export type ErrorKind = 'rate_limit' | 'timeout' | 'unavailable' | 'network' | 'exchange_error' | 'bad_response' | 'parse_error' | 'stale' | 'config';

export interface ConnectionStats {
  exchange: string;
  state: ConnectionState;
  transport: FeedTransport | null;
  symbols: string[];
  session: number;
  connectedSince: number | null;
  lastMessageAt: number | null;
  /** Messages per second over the last rate window. */
  messageRate: number;
  messages: number;
  ticksAccepted: number;
  ticksRejected: number;
  rejectsByCode: Partial<Record<RejectCode, number>>;
  klinesPublished: number;
  klinesBackfilled: number;
  errors: number;
  errorsByKind: Partial<Record<ErrorKind, number>>;
  lastError: { kind: ErrorKind; message: string; at: number } | null;
  /** Deliveries whose sink threw (the feed went on). */
  sinkErrors: number;
  /** Times the connection came back up after being down. */
  reconnects: number;
  /** Consecutive failed attempts in the current outage. */
  attempts: number;
  holes: number;
  staleAgeMs: number;
  retry: RetryConfig;
}

export interface StatusPayloads {
  'connection.up': { exchange: string; transport: FeedTransport; session: number; downSince: number | null; downtimeMs: number | null; attempts: number };
  'connection.down': { exchange: string; transport: FeedTransport; session: number; upSince: number; reason: string; errorKind: ErrorKind | 'reconnect' | 'stopped'; error: string | null };
  'exchange.status': {
    exchange: string;
    state: ConnectionState;
    transport: FeedTransport | null;
    attempt: number;
    /** Backoff before the next attempt, when state is backoff. */
    delayMs: number | null;
    error: { kind: ErrorKind; message: string } | null;
    retry: RetryConfig;
    detail: string | null;
  };
  heartbeat: ConnectionStats;
  'kline.backfill': { exchange: string; symbol: string; interval: string; hole: TimeRange; from: number; to: number; fetched: number; rejected: number };
  completeness: CompletenessReport & { exchange: string; symbol: string; interval: string };
  failover: { symbol: string; from: string; to: string; reason: SwitchReason; silenceMs: number; staleAgeMs: number };
  'exchange.health': { symbol: string; exchange: string; health: ExchangeHealth; previous: ExchangeHealth; silenceMs: number; staleAgeMs: number };
  'failover.status': { enabled: boolean; symbols: FailoverSnapshot[]; noHealthyExchange?: string };
  'command.result': { command: string; target: string; ok: boolean; detail: string };
}

export type StatusKind = keyof StatusPayloads;

export type StatusUpdate = {
  [K in StatusKind]: { kind: K; source: string; at: number; commandId: string | null; payload: StatusPayloads[K] };
}[StatusKind];

export type StatusOf<K extends StatusKind> = Extract<StatusUpdate, { kind: K }>;

export function statusUpdate<K extends StatusKind>(kind: K, source: string, at: number, payload: StatusPayloads[K], commandId: string | null = null): StatusOf<K> {
  return { kind, source, at, commandId, payload } as StatusOf<K>;
}

function digest(text: string): string {
  return createHash('sha1').update(text).digest('hex').slice(0, 16);
}

/** event_id = source:kind:at:hash(payload): the same status re-emitted (a replay) dedupes. */
export function toControlEvent(update: StatusUpdate, ingestTime: number = update.at): ControlEvent {
  const payloadJson = JSON.stringify(update.payload);
  return {
    event_id: `${update.source}:${update.kind}:${update.at}:${digest(payloadJson)}`,
    event_type: CONTROL_EVENT_TYPE,
    schema_version: 1,
    event_time: update.at,
    ingest_time: ingestTime,
    source: update.source,
    kind: update.kind,
    command_id: update.commandId,
    payload_json: payloadJson,
  };
}

export interface IngestRejection {
  /** Topic the record would have gone to (catalogue id and name). */
  topicId: 'ticks' | 'klines';
  topic: 'market.ticks.v1' | 'market.klines.v1';
  /** Its key there (exchange:symbol or exchange:symbol:interval; symbol '*' when unknown). */
  key: string;
  exchange: string;
  symbol: string;
  code: RejectCode;
  reason: string;
  /** The normalized record, when there was one. */
  record: Tick | Kline | null;
  /** What the exchange sent (ccxt's `info`, the raw body, or the parse error). */
  raw: unknown;
  at: number;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)) ?? 'null';
  } catch {
    return JSON.stringify(String(value));
  }
}

/** The DeadLetter for a rejection, for `${topic}.dlq`; payload is the rejected record as JSON. */
export function toDeadLetter(rejection: IngestRejection, ingestTime: number = rejection.at): DeadLetter {
  const payload = safeJson({ record: rejection.record, raw: rejection.raw });
  const recordId = rejection.record?.event_id ?? `${rejection.key}:${rejection.at}:${digest(payload)}`;
  return {
    event_id: `dlq:${rejection.code}:${recordId}`,
    event_type: DEAD_LETTER_EVENT_TYPE,
    schema_version: 1,
    event_time: rejection.record?.event_time ?? rejection.at,
    ingest_time: ingestTime,
    original_topic: rejection.topic,
    original_partition: null,
    original_offset: null,
    stage: 'ingest',
    reason: `${rejection.code}: ${rejection.reason}`,
    payload: Buffer.from(payload, 'utf8'),
  };
}
