// The topic catalogue: every topic Tickflow reads or writes, its key, its Avro schema and the
// ClickHouse table it projects into. This is the one answer to "where does this column come from".
import type * as E from './generated/events.ts';

export interface TopicSpec {
  /** Logical name; the physical name is `${KAFKA_TOPIC_PREFIX}${name}`. */
  name: string;
  key: string;
  /** File under schemas/avro. */
  schema: string;
  partitions: number;
  cleanupPolicy: 'delete' | 'compact';
  /** -1 keeps forever. */
  retentionMs: number;
  /** ClickHouse table the sink projects this topic into, if any. */
  table: string | null;
  doc: string;
}

const DAY = 86_400_000;

export const TOPICS = {
  ticks: { name: 'market.ticks.v1', key: 'exchange:symbol', schema: 'market.ticks.v1.avsc', partitions: 6, cleanupPolicy: 'delete', retentionMs: 7 * DAY, table: 'ticks', doc: 'Ticker updates per exchange and market.' },
  klines: { name: 'market.klines.v1', key: 'exchange:symbol:interval', schema: 'market.klines.v1.avsc', partitions: 6, cleanupPolicy: 'delete', retentionMs: 30 * DAY, table: 'klines', doc: 'Exchange-provided OHLCV candles, live and backfilled.' },
  proxySnapshots: { name: 'proxy.snapshots.v1', key: 'source:resource', schema: 'proxy.snapshots.v1.avsc', partitions: 3, cleanupPolicy: 'delete', retentionMs: 30 * DAY, table: 'proxy_snapshots', doc: 'Fear & Greed, CoinMarketCap, Whale Alert, NewsAPI and CoinGecko snapshots.' },
  candles: { name: 'analytics.candles.v1', key: 'symbol:interval', schema: 'analytics.candles.v1.avsc', partitions: 6, cleanupPolicy: 'delete', retentionMs: 90 * DAY, table: 'candles', doc: 'Candles aggregated from ticks, every interval.' },
  indicators: { name: 'analytics.indicators.v1', key: 'symbol:interval', schema: 'analytics.indicators.v1.avsc', partitions: 6, cleanupPolicy: 'delete', retentionMs: 90 * DAY, table: 'indicators', doc: 'Indicator values at candle close.' },
  signals: { name: 'analytics.signals.v1', key: 'symbol:interval', schema: 'analytics.signals.v1.avsc', partitions: 6, cleanupPolicy: 'delete', retentionMs: 90 * DAY, table: 'signals', doc: 'Strategy signals.' },
  predictions: { name: 'analytics.predictions.v1', key: 'symbol:horizon', schema: 'analytics.predictions.v1.avsc', partitions: 3, cleanupPolicy: 'delete', retentionMs: 90 * DAY, table: 'predictions', doc: 'Model predictions.' },
  alertEvents: { name: 'alerts.events.v1', key: 'alert id', schema: 'alerts.events.v1.avsc', partitions: 3, cleanupPolicy: 'compact', retentionMs: -1, table: 'alerts', doc: 'Alert definitions: created, updated, deleted. Compacted; the trigger processor rebuilds from it.' },
  alertTriggers: { name: 'alerts.triggers.v1', key: 'alert id', schema: 'alerts.triggers.v1.avsc', partitions: 3, cleanupPolicy: 'delete', retentionMs: 90 * DAY, table: 'alert_triggers', doc: 'Alerts fired, with the value that fired them.' },
  commands: { name: 'control.commands.v1', key: 'target', schema: 'control.commands.v1.avsc', partitions: 1, cleanupPolicy: 'delete', retentionMs: 7 * DAY, table: 'commands', doc: 'Operator and API commands; one partition keeps them in order.' },
  controlEvents: { name: 'control.events.v1', key: 'source', schema: 'control.events.v1.avsc', partitions: 3, cleanupPolicy: 'delete', retentionMs: 30 * DAY, table: 'control_events', doc: 'Heartbeats, exchange status, connection changes, job progress.' },
} as const satisfies Record<string, TopicSpec>;

export type TopicId = keyof typeof TOPICS;

/** The TypeScript type each topic carries; checked against the Avro files by codegen. */
export interface TopicValue {
  ticks: E.Tick;
  klines: E.Kline;
  proxySnapshots: E.ProxySnapshot;
  candles: E.Candle;
  indicators: E.IndicatorValues;
  signals: E.Signal;
  predictions: E.Prediction;
  alertEvents: E.AlertEvent;
  alertTriggers: E.AlertTrigger;
  commands: E.Command;
  controlEvents: E.ControlEvent;
}

/**
 * Internal topics: processor state changelogs (JSON, not a public contract). Compacted, one
 * record per source partition, so a restarted or rebalanced processor resumes exactly.
 */
export const INTERNAL_TOPICS = {
  analyticsState: { name: 'tickflow.internal.analytics-state.v1', partitions: 1, doc: 'Market analytics state per market.ticks.v1 partition, with the offset it reflects.' },
} as const;

/** Every topic with a DLQ: `<name>.dlq`, carrying DeadLetter records with the original key. */
export const DLQ_SCHEMA = 'dead-letter.v1.avsc';
export const dlqName = (name: string): string => `${name}.dlq`;
export const DLQ_RETENTION_MS = 30 * DAY;

export const INTERVALS = ['1m', '5m', '15m', '1h', '4h', '1d'] as const;
export type Interval = (typeof INTERVALS)[number];
export const INTERVAL_MS: Record<Interval, number> = {
  '1m': 60_000, '5m': 300_000, '15m': 900_000, '1h': 3_600_000, '4h': 14_400_000, '1d': 86_400_000,
};
