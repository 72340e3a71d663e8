// What the monitoring routes and the app's hooks share, created once per application: the one
// health model, the SLO engine with its freshness sampler, operational alerts, crash dumps and
// the request recorder behind the telemetry summary.
import type { ApiDeps } from '../context.ts';
import { HealthModel, PROXY_SOURCES } from '../health-model.ts';
import { defaultSlos, RollingSamples, SloEngine, type SloDefinition } from './slo.ts';
import { OpsAlerts } from './ops-alerts.ts';
import { CrashDumps } from './diagnostics.ts';

export interface Monitoring {
  health: HealthModel;
  slo: SloEngine;
  opsAlerts: OpsAlerts;
  dumps: CrashDumps;
  /** Every answered request: good = not 5xx, value = latency. */
  requests: RollingSamples;
  startedAt: number;
  sampleIntervalMs: number;
  /** One freshness sample for every freshness SLO, and ops alerts for SLOs that became breached. */
  sample(now?: number): Promise<void>;
  start(): void;
  close(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    monitoring: Monitoring;
  }
}

export function createMonitoring(deps: ApiDeps): Monitoring {
  const m = deps.config.monitoring;
  const exchanges = deps.config.market.source === 'synthetic' ? deps.config.market.syntheticExchanges : deps.config.exchanges.ids;
  const slo = new SloEngine(defaultSlos(exchanges, Object.keys(PROXY_SOURCES)), m.sloFile);
  const health = new HealthModel({ config: deps.config, log: deps.log, clickhouse: deps.clickhouse });
  const opsAlerts = new OpsAlerts(deps.log, m.opsAlertWebhookUrl);
  const dumps = new CrashDumps(m.crashDumpDir);
  const sampleIntervalMs = m.sloSampleIntervalMs;
  const lastStatus = new Map<string, string>();
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;

  async function sample(now = Date.now()): Promise<void> {
    const report = await health.report(now);
    const ages = new Map<string, number | null>();
    for (const c of report.components) {
      if (c.kind !== 'exchange' && c.kind !== 'proxy') continue;
      ages.set(c.name, c.freshness_ms);
      // An exchange the configuration did not name (live mode) gets the default freshness SLO.
      if (c.kind === 'exchange' && !slo.list().some((d) => d.source === c.name)) {
        const def: SloDefinition = defaultSlos([c.name.slice('exchange:'.length)], [])[2]!;
        slo.add(def);
      }
    }
    slo.recordFreshness(ages, now);
    for (const e of slo.evaluateAll(now)) {
      const prev = lastStatus.get(e.name);
      lastStatus.set(e.name, e.status);
      if (e.status === 'breached' && prev !== 'breached') {
        await opsAlerts.send({ severity: 'critical', source: 'slo', title: `SLO ${e.name} breached`, message: `compliance ${e.compliance} below objective ${e.objective} over ${e.window_ms / 60_000} min` });
      }
    }
  }

  return {
    health, slo, opsAlerts, dumps, requests: new RollingSamples(), startedAt: Date.now(), sampleIntervalMs, sample,
    start() {
      if (timer) return;
      timer = setInterval(() => {
        if (running) return;
        running = sample().catch((err: Error) => deps.log.warn({ err: err.message }, 'slo sampler failed')).finally(() => { running = null; });
      }, sampleIntervalMs);
      timer.unref();
    },
    async close() {
      if (timer) clearInterval(timer);
      timer = null;
      await running;
      await health.close();
    },
  };
}
