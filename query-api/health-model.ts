// The one health model. Every health route (`/`, /exchanges/health, /proxy/health,
// /monitoring/health) presents a slice of the same report, and the SLO freshness sampler reads
// its freshness. Components: kafka, registry, clickhouse, the sink's lag, each exchange feed and
// each proxy source; each is ok, degraded or down with the reasons and, where it applies, the
// age of its freshest data.
//
// The assess* functions are pure (state in, verdict out) so the rules are unit-tested without
// services; HealthModel gathers their inputs from the probes and caches the report briefly.
import { Literals } from './schema-literals.ts';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Admin } from 'kafkajs';
import { Type, type Static } from '@sinclair/typebox';
import type { Config } from '../runtime/config.ts';
import type { Logger } from '../runtime/logger.ts';
import { createKafka } from '../runtime/kafka.ts';
import { consumerLag, consumerPaused } from '../runtime/metrics.ts';

export const HEALTH_STATUSES = ['ok', 'degraded', 'down'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];
export type ComponentKind = 'kafka' | 'registry' | 'clickhouse' | 'sink' | 'exchange' | 'proxy';

/** The proxy sources and the resources each one stores (proxy_snapshots.source/resource). */
export const PROXY_SOURCES = {
  fear_greed: ['index'],
  coinmarketcap: ['listings', 'quotes'],
  whale_alert: ['transactions'],
  newsapi: ['articles'],
  coingecko: ['markets', 'price'],
} as const satisfies Record<string, readonly string[]>;
export type ProxySource = keyof typeof PROXY_SOURCES;

export const HealthStatusSchema = Literals(HEALTH_STATUSES);
export const ComponentHealthSchema = Type.Object({
  name: Type.String({ description: 'kafka, registry, clickhouse, sink, exchange:<id> or proxy:<source>' }),
  kind: Literals(['kafka', 'registry', 'clickhouse', 'sink', 'exchange', 'proxy'] as const),
  status: HealthStatusSchema,
  critical: Type.Boolean({ description: 'A critical component that is down makes the whole service down' }),
  reasons: Type.Array(Type.String()),
  freshness_ms: Type.Union([Type.Integer(), Type.Null()], { description: 'Age of the freshest data (feeds) or probe latency (services)' }),
  last_seen: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  details: Type.Record(Type.String(), Type.Unknown()),
});
export type ComponentHealth = Static<typeof ComponentHealthSchema>;
export const HealthReportSchema = Type.Object({
  status: HealthStatusSchema,
  checked_at: Type.String({ format: 'date-time' }),
  reasons: Type.Array(Type.String()),
  components: Type.Array(ComponentHealthSchema),
});
export type HealthReport = Static<typeof HealthReportSchema>;

const RANK: Record<HealthStatus, number> = { ok: 0, degraded: 1, down: 2 };
export const worst = (xs: HealthStatus[]): HealthStatus => xs.reduce<HealthStatus>((a, b) => (RANK[b] > RANK[a] ? b : a), 'ok');
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export interface FreshnessThresholds { degradedMs: number; downMs: number }
export const EXCHANGE_FRESHNESS: FreshnessThresholds = { degradedMs: 30_000, downMs: 120_000 };
export const DEFAULT_PROXY_INTERVAL_MS = 10 * 60_000;
export const SINK_LAG = { degraded: 10_000, down: 100_000 };

export function assessFreshness(ageMs: number | null, t: FreshnessThresholds): { status: HealthStatus; reason: string | null } {
  if (ageMs === null) return { status: 'down', reason: 'no data received yet' };
  if (ageMs > t.downMs) return { status: 'down', reason: `no data for ${Math.round(ageMs / 1000)} s (down after ${t.downMs / 1000} s)` };
  if (ageMs > t.degradedMs) return { status: 'degraded', reason: `no data for ${Math.round(ageMs / 1000)} s (stale after ${t.degradedMs / 1000} s)` };
  return { status: 'ok', reason: null };
}

export function assessService(name: 'kafka' | 'registry' | 'clickhouse', probe: { ok: boolean; latencyMs: number; error: string | null; detail?: Record<string, unknown> }, now: number): ComponentHealth {
  return {
    name, kind: name, critical: true,
    status: probe.ok ? (probe.latencyMs > 2000 ? 'degraded' : 'ok') : 'down',
    reasons: probe.ok ? (probe.latencyMs > 2000 ? [`slow: answered in ${Math.round(probe.latencyMs)} ms`] : []) : [`unreachable: ${probe.error ?? 'no answer'}`],
    freshness_ms: Math.round(probe.latencyMs),
    last_seen: probe.ok ? iso(now) : null,
    details: probe.detail ?? {},
  };
}

export interface SinkInput { runsHere: boolean; lag: Array<{ topic: string; partition: string; lag: number }>; pausedConsumers: string[] }
export function assessSink(s: SinkInput): ComponentHealth {
  const total = s.lag.reduce((a, b) => a + b.lag, 0);
  const reasons: string[] = [];
  let status: HealthStatus = 'ok';
  if (!s.runsHere) reasons.push('the sink runs in another process; its lag is in that process\'s metrics');
  if (total >= SINK_LAG.down) { status = 'down'; reasons.push(`consumer lag ${total} messages (down at ${SINK_LAG.down})`); }
  else if (total >= SINK_LAG.degraded) { status = 'degraded'; reasons.push(`consumer lag ${total} messages (degraded at ${SINK_LAG.degraded})`); }
  if (s.pausedConsumers.length) { status = worst([status, 'degraded']); reasons.push(`paused because ClickHouse writes fail: ${s.pausedConsumers.join(', ')}`); }
  const worstPartitions = [...s.lag].sort((a, b) => b.lag - a.lag).slice(0, 5);
  return { name: 'sink', kind: 'sink', critical: true, status, reasons, freshness_ms: null, last_seen: null, details: { runs_here: s.runsHere, total_lag: total, worst_partitions: worstPartitions, paused: s.pausedConsumers } };
}

export interface ExchangeInput {
  exchange: string;
  lastTickAt: number | null;
  /** Latest exchange.status payload from control_events, if the ingestor reports one. */
  status: { state: string; at: number; error: { kind?: string; message: string } | null; detail?: string | null } | null;
  /** Latest heartbeat (ConnectionStats) of the ingestor, if it reports one. */
  heartbeat?: { at: number; messageRate?: number; reconnects?: number; errors?: number; holes?: number; transport?: string | null; lastError?: { kind?: string; message: string; at?: number } | null } | null;
}
export function assessExchange(e: ExchangeInput, now: number, t: FreshnessThresholds = EXCHANGE_FRESHNESS): ComponentHealth {
  const age = e.lastTickAt === null ? null : Math.max(0, now - e.lastTickAt);
  const fresh = assessFreshness(age, t);
  const reasons = fresh.reason ? [fresh.reason] : [];
  let status = fresh.status;
  if (e.status) {
    const s = e.status.state;
    const err = e.status.error ? `: ${e.status.error.message}` : '';
    if (s === 'failed' || s === 'stopped') { status = 'down'; reasons.push(`connection ${s}${err}`); }
    else if (s === 'backoff' || s === 'connecting') { status = worst([status, 'degraded']); reasons.push(`connection ${s}${err}`); }
  }
  return {
    name: `exchange:${e.exchange}`, kind: 'exchange', critical: false, status, reasons,
    freshness_ms: age, last_seen: iso(e.lastTickAt),
    details: {
      exchange: e.exchange, connection: e.status?.state ?? null, status_at: iso(e.status?.at ?? null), last_error: e.status?.error ?? e.heartbeat?.lastError ?? null,
      ...(e.heartbeat ? { heartbeat_at: iso(e.heartbeat.at), transport: e.heartbeat.transport ?? null, message_rate: e.heartbeat.messageRate ?? null, reconnects: e.heartbeat.reconnects ?? null, errors: e.heartbeat.errors ?? null, holes: e.heartbeat.holes ?? null } : {}),
    },
  };
}

export interface ProxyStatusPayload {
  source: string; state: 'ok' | 'disabled' | 'backoff' | 'error'; enabled: boolean; interval_ms: number;
  last_success_at: number | null; last_error: { message: string; at: number } | null; next_poll_at: number | null;
  disabled_reason?: string | null; consecutive_failures?: number; resources?: string[];
}
export interface ProxyInput { source: string; status: (ProxyStatusPayload & { reported_at: number }) | null; lastSnapshotAt: number | null; resources: Array<{ resource: string; last_snapshot_at: number | null }> }
/** A source is fresh for two polling intervals plus a minute, and down after five. */
export function proxyThresholds(intervalMs: number): FreshnessThresholds {
  return { degradedMs: 2 * intervalMs + 60_000, downMs: 5 * intervalMs + 60_000 };
}
export function assessProxy(p: ProxyInput, now: number): ComponentHealth {
  const interval = p.status?.interval_ms && p.status.interval_ms > 0 ? p.status.interval_ms : DEFAULT_PROXY_INTERVAL_MS;
  const age = p.lastSnapshotAt === null ? null : Math.max(0, now - p.lastSnapshotAt);
  const reasons: string[] = [];
  let status: HealthStatus;
  const state = p.status?.state ?? null;
  if (state === 'disabled' || p.status?.enabled === false) {
    status = 'ok';
    reasons.push(`disabled: ${p.status?.disabled_reason ?? 'by configuration (no API key or turned off)'}`);
  } else if (p.status === null && p.lastSnapshotAt === null) {
    status = 'down';
    reasons.push('no status or snapshot received from this source');
  } else {
    const fresh = assessFreshness(age, proxyThresholds(interval));
    status = fresh.status;
    if (fresh.reason) reasons.push(fresh.reason);
    if (state === 'backoff') { status = worst([status, 'degraded']); reasons.push(`backing off after errors${p.status?.last_error ? `: ${p.status.last_error.message}` : ''}`); }
    if (state === 'error') { status = worst([status, fresh.status === 'ok' ? 'degraded' : 'down']); reasons.push(`last poll failed${p.status?.last_error ? `: ${p.status.last_error.message}` : ''}`); }
  }
  return {
    name: `proxy:${p.source}`, kind: 'proxy', critical: false, status, reasons, freshness_ms: age, last_seen: iso(p.lastSnapshotAt),
    details: {
      source: p.source, state, enabled: p.status?.enabled ?? null, interval_ms: p.status?.interval_ms ?? null,
      last_success_at: iso(p.status?.last_success_at ?? null), next_poll_at: iso(p.status?.next_poll_at ?? null),
      last_error: p.status?.last_error ? { message: p.status.last_error.message, at: iso(p.status.last_error.at) } : null,
      status_reported_at: iso(p.status?.reported_at ?? null),
      consecutive_failures: p.status?.consecutive_failures ?? null,
      resources: p.resources.map((r) => ({ resource: r.resource, last_snapshot_at: iso(r.last_snapshot_at) })),
    },
  };
}

/** Overall: the worst critical component; any other component not ok degrades; no live exchange feed at all is down. */
export function overallHealth(components: ComponentHealth[]): { status: HealthStatus; reasons: string[] } {
  const reasons: string[] = [];
  let status: HealthStatus = 'ok';
  for (const c of components) {
    if (c.status === 'ok') continue;
    if (c.critical) status = worst([status, c.status]);
    else status = worst([status, 'degraded']);
    reasons.push(`${c.name} ${c.status}${c.reasons.length ? `: ${c.reasons[0]}` : ''}`);
  }
  const feeds = components.filter((c) => c.kind === 'exchange');
  if (feeds.length > 0 && feeds.every((c) => c.status === 'down')) {
    status = 'down';
    reasons.unshift('no exchange feed is live');
  }
  return { status, reasons };
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`${what} timed out after ${ms} ms`)), ms).unref())]);

function localServicePort(home: string, name: 'kafka' | 'registry'): number | null {
  const f = join(home, 'services', name, 'state.json');
  if (!existsSync(f)) return null;
  try { return (JSON.parse(readFileSync(f, 'utf8')) as { port?: number }).port ?? null; } catch { return null; }
}

export interface HealthModelDeps { config: Config; log: Logger; clickhouse: ClickHouseClient }

/** Gathers the inputs (probes and ClickHouse reads) and assesses them; one report per cacheMs. */
export class HealthModel {
  private cached: { at: number; report: Promise<HealthReport> } | null = null;
  private admin: Admin | null = null;
  private adminConnected = false;

  constructor(private readonly d: HealthModelDeps, private readonly cacheMs = 2000, private readonly probeTimeoutMs = 3000) {}

  report(now = Date.now()): Promise<HealthReport> {
    if (this.cached && now - this.cached.at < this.cacheMs) return this.cached.report;
    const report = this.build(now);
    this.cached = { at: now, report };
    report.catch(() => { this.cached = null; });
    return report;
  }

  async close(): Promise<void> {
    if (this.admin && this.adminConnected) await this.admin.disconnect().catch(() => undefined);
    this.admin = null;
  }

  private brokers(): string[] | null {
    if (this.d.config.kafka.brokers) return this.d.config.kafka.brokers;
    const port = localServicePort(this.d.config.home, 'kafka');
    return port ? [`127.0.0.1:${port}`] : null;
  }

  private registryUrl(): string | null {
    if (this.d.config.registry.url) return this.d.config.registry.url;
    const port = localServicePort(this.d.config.home, 'registry');
    return port ? `http://127.0.0.1:${port}/apis/ccompat/v7` : null;
  }

  private async probe(fn: () => Promise<Record<string, unknown>>, what: string) {
    const t0 = performance.now();
    try {
      const detail = await withTimeout(fn(), this.probeTimeoutMs, what);
      return { ok: true, latencyMs: performance.now() - t0, error: null, detail };
    } catch (err) {
      return { ok: false, latencyMs: performance.now() - t0, error: (err as Error).message.split('\n')[0] ?? 'error', detail: {} };
    }
  }

  private async probeKafka() {
    const brokers = this.brokers();
    if (!brokers) return { ok: false, latencyMs: 0, error: 'no broker address known', detail: {} };
    return this.probe(async () => {
      if (!this.admin) this.admin = createKafka(brokers, { clientId: 'tickflow-health', topicPrefix: this.d.config.kafka.topicPrefix }, this.d.log, 'silent').admin();
      if (!this.adminConnected) { await this.admin.connect(); this.adminConnected = true; }
      try {
        const c = await this.admin.describeCluster();
        return { brokers: c.brokers.length, controller: c.controller, cluster_id: c.clusterId };
      } catch (err) {
        this.adminConnected = false;
        await this.admin.disconnect().catch(() => undefined);
        throw err;
      }
    }, 'kafka describeCluster');
  }

  private async probeRegistry() {
    const url = this.registryUrl();
    if (!url) return { ok: false, latencyMs: 0, error: 'no registry address known', detail: {} };
    return this.probe(async () => {
      const r = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(this.probeTimeoutMs) });
      if (!r.ok) throw new Error(`GET /subjects answered ${r.status}`);
      const subjects = (await r.json()) as unknown[];
      return { subjects: Array.isArray(subjects) ? subjects.length : null };
    }, 'registry');
  }

  private async probeClickhouse() {
    return this.probe(async () => {
      const rs = await this.d.clickhouse.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' });
      const [row] = await rs.json<{ v: string }>();
      return { version: row?.v ?? null };
    }, 'clickhouse');
  }

  private async sinkInput(): Promise<SinkInput> {
    const lag = (await consumerLag.get()).values
      .filter((v) => v.labels.consumer === 'clickhouse-sink')
      .map((v) => ({ topic: String(v.labels.topic), partition: String(v.labels.partition), lag: v.value }));
    const paused = (await consumerPaused.get()).values.filter((v) => v.value > 0).map((v) => String(v.labels.consumer));
    return { runsHere: this.d.config.roles.includes('processors'), lag, pausedConsumers: paused };
  }

  private async query<T>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
    const rs = await this.d.clickhouse.query({ query, query_params: params, format: 'JSONEachRow' });
    return rs.json<T>();
  }

  async exchangeInputs(): Promise<ExchangeInput[]> {
    const ticks = await this.query<{ exchange: string; t: string }>('SELECT exchange, toUnixTimestamp64Milli(max(ingest_time)) AS t FROM latest_ticks FINAL GROUP BY exchange');
    const statuses = await this.query<{ source: string; kind: string; t: string; payload: string }>(
      `SELECT source, kind, toUnixTimestamp64Milli(max(event_time)) AS t, argMax(payload_json, event_time) AS payload
       FROM control_events FINAL WHERE kind IN ('exchange.status', 'heartbeat') AND startsWith(source, 'ingest:') GROUP BY source, kind`);
    const names = new Set<string>(ticks.map((r) => r.exchange));
    if (this.d.config.market.source === 'synthetic') for (const e of this.d.config.market.syntheticExchanges) names.add(e);
    const byStatus = new Map<string, ExchangeInput['status']>();
    const byHeartbeat = new Map<string, NonNullable<ExchangeInput['heartbeat']>>();
    for (const s of statuses) {
      let p: Record<string, unknown> = {};
      try { p = JSON.parse(s.payload) as typeof p; } catch { /* a malformed payload is reported as unknown state */ }
      const ex = typeof p.exchange === 'string' ? p.exchange : s.source.slice('ingest:'.length);
      names.add(ex);
      if (s.kind === 'heartbeat') byHeartbeat.set(ex, { ...(p as object), at: Number(s.t) });
      else byStatus.set(ex, { state: typeof p.state === 'string' ? p.state : 'unknown', at: Number(s.t), error: (p.error as { message: string } | null | undefined) ?? null, detail: (p.detail as string | null | undefined) ?? null });
    }
    const lastTick = new Map(ticks.map((r) => [r.exchange, Number(r.t)]));
    return [...names].sort().map((exchange) => ({ exchange, lastTickAt: lastTick.get(exchange) ?? null, status: byStatus.get(exchange) ?? null, heartbeat: byHeartbeat.get(exchange) ?? null }));
  }

  async proxyInputs(): Promise<ProxyInput[]> {
    const snaps = await this.query<{ source: string; resource: string; t: string }>(
      'SELECT source, resource, toUnixTimestamp64Milli(max(ingest_time)) AS t FROM proxy_snapshots FINAL GROUP BY source, resource');
    const statuses = await this.query<{ source: string; t: string; payload: string }>(
      `SELECT source, toUnixTimestamp64Milli(max(event_time)) AS t, argMax(payload_json, event_time) AS payload
       FROM control_events FINAL WHERE kind = 'proxy.status' AND startsWith(source, 'proxy:') GROUP BY source`);
    const names = new Set<string>([...Object.keys(PROXY_SOURCES), ...snaps.map((s) => s.source)]);
    const status = new Map<string, ProxyInput['status']>();
    for (const s of statuses) {
      try {
        const p = JSON.parse(s.payload) as ProxyStatusPayload;
        const src = p.source ?? s.source.slice('proxy:'.length);
        names.add(src);
        status.set(src, { ...p, reported_at: Number(s.t) });
      } catch { /* ignore a malformed status; freshness still reports */ }
    }
    return [...names].sort().map((source) => {
      const rs = snaps.filter((s) => s.source === source);
      const known = (PROXY_SOURCES as Record<string, readonly string[]>)[source] ?? [];
      const resources = [...new Set([...known, ...rs.map((r) => r.resource)])].map((resource) => {
        const row = rs.find((r) => r.resource === resource);
        return { resource, last_snapshot_at: row ? Number(row.t) : null };
      });
      const times = rs.map((r) => Number(r.t));
      return { source, status: status.get(source) ?? null, lastSnapshotAt: times.length ? Math.max(...times) : null, resources };
    });
  }

  private async build(now: number): Promise<HealthReport> {
    const [kafka, registry, clickhouse, sink] = await Promise.all([this.probeKafka(), this.probeRegistry(), this.probeClickhouse(), this.sinkInput()]);
    const components: ComponentHealth[] = [
      assessService('kafka', kafka, now), assessService('registry', registry, now), assessService('clickhouse', clickhouse, now), assessSink(sink),
    ];
    if (clickhouse.ok) {
      try {
        const [ex, px] = await Promise.all([this.exchangeInputs(), this.proxyInputs()]);
        components.push(...ex.map((e) => assessExchange(e, now)), ...px.map((p) => assessProxy(p, now)));
      } catch (err) {
        this.d.log.warn({ err: (err as Error).message }, 'health: reading feed freshness failed');
      }
    }
    const overall = overallHealth(components);
    return { status: overall.status, checked_at: new Date(now).toISOString(), reasons: overall.reasons, components };
  }
}
