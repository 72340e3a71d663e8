// /api/v1/monitoring: health (the whole health model), Prometheus metrics, telemetry, SLOs with
// error budgets and a release gate, operational alerts, crash dumps, logs and system info.
// Writes (SLO config and record, manual alert send, dumps, exports) and the operational reads
// that can reveal internals (logs, crash-dump listing) need the admin role.
import { Literals } from '../schema-literals.ts';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { HttpError } from '../context.ts';
import { requireAdmin } from '../auth.ts';
import { registry } from '../../runtime/metrics.ts';
import { recentLogs } from '../../runtime/logger.ts';
import { HealthReportSchema } from '../health-model.ts';
import { ReleaseGateSchema, releaseGate, SloConfigError, SloDefinitionSchema, SloEvaluationSchema, SloPatchSchema, quantileFromHistogram } from '../monitoring/slo.ts';
import { OPS_SEVERITIES, OpsAlertSchema } from '../monitoring/ops-alerts.ts';
import { CPU_PROFILE_MAX_MS, DumpFileSchema } from '../monitoring/diagnostics.ts';
import { systemInfo } from '../monitoring/diagnostics.ts';

const LOG_LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
const LOG_LEVEL_NAMES = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
const LOG_DEFAULT_LIMIT = 200;
const LOG_MAX_LIMIT = 2000;
const SloName = Type.Object({ slo_name: Type.String({ pattern: '^[a-z0-9_.:-]{1,80}$' }) });
const Counts = Type.Record(Type.String(), Type.Number());
const TELEMETRY_WINDOW_MS = 5 * 60_000;

const TelemetrySchema = Type.Object({
  generated_at: Type.String({ format: 'date-time' }),
  uptime_s: Type.Integer(),
  http: Type.Object({ window_ms: Type.Integer(), requests: Type.Integer(), errors_5xx: Type.Integer(), p50_ms: Type.Union([Type.Number(), Type.Null()]), p99_ms: Type.Union([Type.Number(), Type.Null()]) }),
  events: Type.Object({ in_by_topic: Counts, out_by_topic: Counts, dlq_by_topic: Counts }),
  sink: Type.Object({ rows_by_table: Counts, write_failures: Type.Number() }),
  websocket: Type.Object({ clients: Type.Integer(), delivered_total: Type.Integer() }),
  memory: Type.Object({ rss_bytes: Type.Integer(), heap_used_bytes: Type.Integer() }),
  health: Type.String(),
});

async function sumBy(name: string, label: string): Promise<Record<string, number>> {
  const m = registry.getSingleMetric(name);
  if (!m) return {};
  const out: Record<string, number> = {};
  for (const v of (await m.get()).values) {
    const k = String(v.labels[label] ?? '');
    out[k] = (out[k] ?? 0) + v.value;
  }
  return out;
}

export const monitoringRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const mon = app.monitoring;
  const sloOr404 = (name: string) => {
    const d = mon.slo.get(name);
    if (!d) throw new HttpError(404, `unknown SLO ${name}; see GET /api/v1/monitoring/slo/list`);
    return d;
  };
  const asHttp = <T>(fn: () => T): T => {
    try { return fn(); } catch (e) { if (e instanceof SloConfigError) throw new HttpError(400, e.message); throw e; }
  };

  async function telemetry() {
    const now = Date.now();
    const w = mon.requests.window(now, TELEMETRY_WINDOW_MS);
    const mem = process.memoryUsage();
    const ws = app.deps.fanout?.info();
    const rows = await sumBy('tickflow_sink_rows_total', 'table');
    const fails = await sumBy('tickflow_sink_write_failures_total', 'consumer');
    return {
      generated_at: new Date(now).toISOString(),
      uptime_s: Math.round((now - mon.startedAt) / 1000),
      http: { window_ms: TELEMETRY_WINDOW_MS, requests: w.total, errors_5xx: w.total - w.good, p50_ms: quantileFromHistogram(w.hist, 0.5), p99_ms: quantileFromHistogram(w.hist, 0.99) },
      events: { in_by_topic: await sumBy('tickflow_events_in_total', 'topic'), out_by_topic: await sumBy('tickflow_events_out_total', 'topic'), dlq_by_topic: await sumBy('tickflow_dlq_total', 'topic') },
      sink: { rows_by_table: rows, write_failures: Object.values(fails).reduce((a, b) => a + b, 0) },
      websocket: { clients: ws?.clients ?? 0, delivered_total: ws?.delivered_total ?? 0 },
      memory: { rss_bytes: mem.rss, heap_used_bytes: mem.heapUsed },
      health: (await mon.health.report()).status,
    };
  }

  app.get('/health', {
    schema: {
      tags: ['monitoring', 'health'], summary: 'The whole health model: kafka, registry, clickhouse, sink lag, exchange feeds, proxy sources',
      querystring: Type.Object({ fail_on_down: Type.Optional(Type.Boolean({ default: false, description: 'Answer 503 when the status is down (for load balancers)' })) }, { additionalProperties: false }),
      response: { 200: HealthReportSchema, 503: HealthReportSchema },
    },
  }, async (req, reply) => {
    const h = await mon.health.report();
    return reply.code(req.query.fail_on_down && h.status === 'down' ? 503 : 200).send(h);
  });

  app.get('/metrics', {
    schema: { tags: ['monitoring'], summary: 'Prometheus metrics (text exposition format)', produces: ['text/plain'], response: { 200: Type.String({ description: 'Prometheus text format 0.0.4' }) } },
  }, async (_req, reply) => reply.header('content-type', registry.contentType).send(await registry.metrics()));

  app.get('/telemetry/summary', {
    schema: { tags: ['monitoring'], summary: 'Telemetry summary: requests and latency (last 5 min), events per topic, sink, WebSocket, memory', response: { 200: TelemetrySchema } },
  }, async () => telemetry());

  app.get('/slo/status', {
    schema: { tags: ['monitoring', 'slo'], summary: 'Status of every SLO over its window', response: { 200: Type.Object({ checked_at: Type.String({ format: 'date-time' }), status: Type.String(), slos: Type.Array(SloEvaluationSchema) }) } },
  }, async () => {
    const slos = mon.slo.evaluateAll();
    const status = slos.some((s) => s.status === 'breached') ? 'breached' : slos.some((s) => s.status === 'at_risk') ? 'at_risk' : 'ok';
    return { checked_at: new Date().toISOString(), status, slos };
  });

  app.get('/slo/compliance', {
    schema: {
      tags: ['monitoring', 'slo'], summary: 'Compliance and error budget per SLO',
      response: { 200: Type.Object({ checked_at: Type.String({ format: 'date-time' }), compliant: Type.Integer(), breached: Type.Integer(), no_data: Type.Integer(), slos: Type.Array(Type.Object({ name: Type.String(), objective: Type.Number(), compliance: Type.Union([Type.Number(), Type.Null()]), window_ms: Type.Integer(), error_budget: SloEvaluationSchema.properties.error_budget, status: Type.String() })) }) },
    },
  }, async () => {
    const e = mon.slo.evaluateAll();
    return {
      checked_at: new Date().toISOString(),
      compliant: e.filter((s) => s.status === 'ok' || s.status === 'at_risk').length,
      breached: e.filter((s) => s.status === 'breached').length,
      no_data: e.filter((s) => s.status === 'no_data').length,
      slos: e.map((s) => ({ name: s.name, objective: s.objective, compliance: s.compliance, window_ms: s.window_ms, error_budget: s.error_budget, status: s.status })),
    };
  });

  app.get('/slo/release-gate', {
    schema: { tags: ['monitoring', 'slo'], summary: 'Release gate: pass unless an SLO is breached or the service is down, with the reasons', response: { 200: ReleaseGateSchema } },
  }, async () => {
    const h = await mon.health.report();
    return releaseGate(mon.slo.evaluateAll(), h.status, h.reasons, Date.now());
  });

  app.get('/slo/metrics', {
    schema: {
      tags: ['monitoring', 'slo'], summary: 'SLO measurements: totals, good and bad events, latency quantiles per SLO',
      response: { 200: Type.Object({ checked_at: Type.String({ format: 'date-time' }), sample_interval_ms: Type.Integer(), slos: Type.Array(Type.Object({ name: Type.String(), kind: Type.String(), total: Type.Integer(), good: Type.Integer(), bad: Type.Integer(), p50_ms: Type.Union([Type.Number(), Type.Null()]), p99_ms: Type.Union([Type.Number(), Type.Null()]) })) }) },
    },
  }, async () => ({
    checked_at: new Date().toISOString(), sample_interval_ms: mon.sampleIntervalMs,
    slos: mon.slo.evaluateAll().map(({ name, kind, total, good, bad, p50_ms, p99_ms }) => ({ name, kind, total, good, bad, p50_ms, p99_ms })),
  }));

  app.get('/slo/list', {
    schema: { tags: ['monitoring', 'slo'], summary: 'Every configured SLO', response: { 200: Type.Object({ slos: Type.Array(SloDefinitionSchema) }) } },
  }, async () => ({ slos: mon.slo.list() }));

  app.get('/slo/config/:slo_name', {
    schema: { tags: ['monitoring', 'slo'], summary: 'One SLO\'s configuration', params: SloName, response: { 200: SloDefinitionSchema } },
  }, async (req) => sloOr404(req.params.slo_name));

  app.get('/alerts/stats', {
    schema: {
      tags: ['monitoring', 'ops-alerts'], summary: 'Operational alert statistics',
      response: { 200: Type.Object({ total: Type.Integer(), by_severity: Counts, by_source: Counts, webhook_sent: Type.Integer(), webhook_failed: Type.Integer(), webhook_configured: Type.Boolean(), history_size: Type.Integer(), history_max: Type.Integer(), last_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]) }) },
    },
  }, async () => mon.opsAlerts.stats());

  app.get('/alerts/history', {
    schema: {
      tags: ['monitoring', 'ops-alerts'], summary: 'Operational alert history, newest first',
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })), severity: Type.Optional(Literals(OPS_SEVERITIES)) }, { additionalProperties: false }),
      response: { 200: Type.Object({ alerts: Type.Array(OpsAlertSchema) }) },
    },
  }, async (req) => ({ alerts: mon.opsAlerts.recent(req.query.limit ?? 100, req.query.severity) }));

  app.get('/system/info', {
    schema: {
      tags: ['monitoring'], summary: 'System information: node, OS, CPU, memory, package versions, tfjs backend',
      response: {
        200: Type.Object({
          node: Type.String(), versions: Type.Record(Type.String(), Type.String()), platform: Type.String(), arch: Type.String(),
          os: Type.Object({ type: Type.String(), release: Type.String(), hostname: Type.String(), uptime_s: Type.Integer(), loadavg: Type.Array(Type.Number()) }),
          cpu: Type.Object({ count: Type.Integer(), model: Type.Union([Type.String(), Type.Null()]) }),
          memory: Type.Record(Type.String(), Type.Integer()),
          process: Type.Object({ pid: Type.Integer(), uptime_s: Type.Integer(), started_at: Type.String({ format: 'date-time' }) }),
          packages: Type.Record(Type.String(), Type.Union([Type.String(), Type.Null()])),
          tfjs: Type.Object({ tfjs: Type.Union([Type.String(), Type.Null()]), wasm_backend: Type.Union([Type.String(), Type.Null()]), node_backend: Type.Union([Type.String(), Type.Null()]), preferred_backend: Type.String() }),
          store_mode: Type.String(), roles: Type.Array(Type.String()),
        }),
      },
    },
  }, async () => ({ ...systemInfo(), store_mode: app.deps.storeMode, roles: [...app.deps.config.roles] }));

  await app.register(async (plain) => {
    const admin = plain.withTypeProvider<TypeBoxTypeProvider>();
    admin.addHook('preHandler', requireAdmin);

    admin.post('/slo/config/:slo_name', {
      schema: {
        tags: ['monitoring', 'slo'], summary: 'Change an SLO (or add one: kind, objective, window_ms and the kind\'s fields); persisted to the SLO file', security: [{ bearer: [] }],
        params: SloName, body: SloPatchSchema, response: { 200: SloDefinitionSchema },
      },
    }, async (req) => asHttp(() => mon.slo.configure(req.params.slo_name, req.body)));

    admin.post('/slo/record', {
      schema: {
        tags: ['monitoring', 'slo'], summary: 'Record SLO samples: good and total counts, or one measured value_ms judged against the threshold', security: [{ bearer: [] }],
        body: Type.Object({
          slo: Type.String({ pattern: '^[a-z0-9_.:-]{1,80}$' }),
          good: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000 })),
          total: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000 })),
          value_ms: Type.Optional(Type.Number({ minimum: 0, maximum: 86_400_000 * 30 })),
        }, { additionalProperties: false }),
        response: { 200: SloEvaluationSchema },
      },
    }, async (req) => {
      const b = req.body;
      sloOr404(b.slo);
      const hasCounts = b.good !== undefined || b.total !== undefined;
      if (hasCounts && (b.good === undefined || b.total === undefined)) throw new HttpError(400, 'body: give good and total together');
      if (!hasCounts && b.value_ms === undefined) throw new HttpError(400, 'body: give good and total, or value_ms');
      asHttp(() => mon.slo.record(b.slo, hasCounts ? { good: b.good!, total: b.total!, ...(b.value_ms !== undefined ? { value_ms: b.value_ms } : {}) } : { value_ms: b.value_ms! }));
      return mon.slo.evaluate(b.slo);
    });

    admin.post('/alerts/send', {
      schema: {
        tags: ['monitoring', 'ops-alerts'], summary: 'Send an operational alert to the log and the configured webhook (OPS_ALERT_WEBHOOK_URL)', security: [{ bearer: [] }],
        body: Type.Object({
          severity: Type.Optional(Literals(OPS_SEVERITIES, { default: 'info' })),
          title: Type.String({ minLength: 1, maxLength: 200 }),
          message: Type.String({ minLength: 1, maxLength: 4000 }),
        }, { additionalProperties: false }),
        response: { 201: OpsAlertSchema },
      },
    }, async (req, reply) => reply.code(201).send(await mon.opsAlerts.send({ severity: req.body.severity ?? 'info', title: req.body.title, message: req.body.message, source: `manual:${req.user!.id}` })));

    admin.get('/crash-dumps', {
      schema: {
        tags: ['monitoring', 'crash-dumps'], summary: 'Crash dumps in the dump folder, newest first, with sizes', security: [{ bearer: [] }],
        response: { 200: Type.Object({ directory: Type.String(), total_bytes: Type.Integer(), files: Type.Array(DumpFileSchema) }) },
      },
    }, async () => {
      const files = mon.dumps.list();
      return { directory: mon.dumps.dir, total_bytes: files.reduce((a, f) => a + f.size_bytes, 0), files };
    });

    admin.post('/crash-dumps/generate', {
      schema: { tags: ['monitoring', 'crash-dumps'], summary: 'Write a diagnostic report (process.report)', security: [{ bearer: [] }], response: { 201: DumpFileSchema } },
    }, async (_req, reply) => reply.code(201).send(mon.dumps.report()));

    admin.post('/crash-dumps/memory', {
      schema: { tags: ['monitoring', 'crash-dumps'], summary: 'Write a V8 heap snapshot (blocks the process while it is written)', security: [{ bearer: [] }], response: { 201: DumpFileSchema } },
    }, async (_req, reply) => reply.code(201).send(mon.dumps.heap()));

    admin.post('/crash-dumps/performance', {
      schema: {
        tags: ['monitoring', 'crash-dumps'], summary: 'Record a CPU profile for duration_ms and write it (.cpuprofile, opens in Chrome DevTools)', security: [{ bearer: [] }],
        body: Type.Object({ duration_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: CPU_PROFILE_MAX_MS, default: 1000 })) }, { additionalProperties: false }),
        response: { 201: DumpFileSchema },
      },
    }, async (req, reply) => {
      if (mon.dumps.profilingNow) throw new HttpError(409, 'a CPU profile is already being recorded');
      return reply.code(201).send(await mon.dumps.cpuProfile(req.body?.duration_ms ?? 1000));
    });

    admin.post('/telemetry/export', {
      schema: {
        tags: ['monitoring'], summary: 'Export telemetry as JSON: the summary and every Prometheus metric', security: [{ bearer: [] }],
        response: { 200: Type.Object({ summary: TelemetrySchema, metrics: Type.Array(Type.Unknown()) }) },
      },
    }, async () => ({ summary: await telemetry(), metrics: await registry.getMetricsAsJSON() }));

    admin.post('/slo/export', {
      schema: {
        tags: ['monitoring', 'slo'], summary: 'Export SLO definitions, evaluations and the release gate as JSON', security: [{ bearer: [] }],
        response: { 200: Type.Object({ exported_at: Type.String({ format: 'date-time' }), definitions: Type.Array(SloDefinitionSchema), evaluations: Type.Array(SloEvaluationSchema), release_gate: ReleaseGateSchema }) },
      },
    }, async () => {
      const h = await mon.health.report();
      const evaluations = mon.slo.evaluateAll();
      return { exported_at: new Date().toISOString(), definitions: mon.slo.list(), evaluations, release_gate: releaseGate(evaluations, h.status, h.reasons, Date.now()) };
    });

    admin.get('/logs', {
      schema: {
        tags: ['monitoring'], summary: 'Recent log entries (info and above are kept, 2000 at most), oldest first; secrets are redacted at the logger', security: [{ bearer: [] }],
        querystring: Type.Object({
          level: Type.Optional(Literals(LOG_LEVEL_NAMES, { default: 'info', description: 'Minimum level' })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LOG_MAX_LIMIT, default: LOG_DEFAULT_LIMIT })),
        }, { additionalProperties: false }),
        response: { 200: Type.Object({ level: Type.String(), count: Type.Integer(), entries: Type.Array(Type.Object({ level: Type.Integer(), level_name: Type.String(), time: Type.String({ format: 'date-time' }), msg: Type.String(), fields: Type.Record(Type.String(), Type.Unknown()) })) }) },
      },
    }, async (req) => {
      const level = req.query.level ?? 'info';
      const names = Object.fromEntries(Object.entries(LOG_LEVELS).map(([k, v]) => [v, k]));
      const entries = recentLogs(LOG_LEVELS[level as keyof typeof LOG_LEVELS], req.query.limit ?? LOG_DEFAULT_LIMIT).map(({ level: l, time, msg, ...fields }) => ({
        level: l, level_name: names[l] ?? String(l), time: new Date(time).toISOString(), msg: String(msg ?? ''), fields,
      }));
      return { level, count: entries.length, entries };
    });
  });
};
