// The pipeline's Prometheus metrics, defined once. Served at /api/v1/monitoring/metrics.
import client from 'prom-client';

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry, prefix: 'tickflow_process_' });

export const eventsIn = new client.Counter({ name: 'tickflow_events_in_total', help: 'Events consumed, per topic and consumer', labelNames: ['topic', 'consumer'] as const, registers: [registry] });
export const eventsOut = new client.Counter({ name: 'tickflow_events_out_total', help: 'Events produced, per topic', labelNames: ['topic'] as const, registers: [registry] });
export const dlqTotal = new client.Counter({ name: 'tickflow_dlq_total', help: 'Messages sent to a DLQ, per source topic and stage', labelNames: ['topic', 'stage'] as const, registers: [registry] });
export const skippedUndecodable = new client.Counter({ name: 'tickflow_consumer_skipped_undecodable_total', help: 'Undecodable messages a non-sink consumer skipped (the sink dead-letters them)', labelNames: ['consumer', 'topic'] as const, registers: [registry] });
export const rejectedTotal = new client.Counter({ name: 'tickflow_ingest_rejected_total', help: 'Ticks rejected at ingest by the quality gate, per exchange and reason', labelNames: ['exchange', 'reason'] as const, registers: [registry] });
export const sinkBatchSeconds = new client.Histogram({ name: 'tickflow_sink_batch_seconds', help: 'ClickHouse write latency per batch', labelNames: ['table'] as const, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] });
export const sinkRowsTotal = new client.Counter({ name: 'tickflow_sink_rows_total', help: 'Rows written to ClickHouse, per table', labelNames: ['table'] as const, registers: [registry] });
export const sinkWriteFailures = new client.Counter({ name: 'tickflow_sink_write_failures_total', help: 'Failed ClickHouse writes (retried; nothing is committed past them)', labelNames: ['consumer'] as const, registers: [registry] });
export const consumerPaused = new client.Gauge({ name: 'tickflow_consumer_paused', help: '1 while a consumer is paused because its writes fail', labelNames: ['consumer'] as const, registers: [registry] });
export const consumerLag = new client.Gauge({ name: 'tickflow_consumer_lag', help: 'Messages between the high watermark and the last processed offset', labelNames: ['consumer', 'topic', 'partition'] as const, registers: [registry] });
export const wsClients = new client.Gauge({ name: 'tickflow_ws_clients', help: 'Connected WebSocket clients', registers: [registry] });
export const wsMessagesOut = new client.Counter({ name: 'tickflow_ws_messages_out_total', help: 'WebSocket messages sent, per channel kind', labelNames: ['channel'] as const, registers: [registry] });
export const wsDropped = new client.Counter({ name: 'tickflow_ws_dropped_total', help: 'WebSocket clients dropped or messages coalesced because a client was too slow', labelNames: ['what'] as const, registers: [registry] });
export const httpDuration = new client.Histogram({ name: 'tickflow_http_request_duration_seconds', help: 'HTTP request latency per route', labelNames: ['method', 'route', 'status'] as const, buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] });
