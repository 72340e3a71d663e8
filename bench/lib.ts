// Shared bench helpers: services (infra/launcher, reusing the shared test instance), per-scenario
// isolation (topic prefix + temp chDB dir, like test/support/env.ts), stats, result shapes.
import { mkdtempSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadConfig, type Config } from '../runtime/config.ts';
import { createLogger, type Logger } from '../runtime/logger.ts';
import { ensureKafka, ensureRegistry } from '../infra/launcher.ts';
import type { KafkaContext } from '../runtime/kafka.ts';

export interface Figure {
  figure: string;
  value: number | null;
  unit: string;
  baseline: number | null;
  /** value / baseline (or baseline / value where lower is better: stated in `ratio_note`). */
  ratio: number | null;
  target: string;
  met: boolean | null;
  note?: string;
}
export interface ScenarioResult { scenario: string; quick: boolean; figures: Figure[]; notes: string[]; extra?: Record<string, unknown>; error?: string; elapsed_ms?: number }

export const REPO = resolve(import.meta.dirname, '..');
export const SERVICES_HOME = process.env.BENCH_SERVICES_HOME ?? join(REPO, '.tickflow', 'test-services');

export interface Services { brokers: string; registryUrl: string; stop(): Promise<void> }

const quietLaunch = { info: (m: string) => console.error(`[services] ${m}`), warn: (m: string) => console.error(`[services] WARN ${m}`) };

/** Start or reuse Kafka and the registry. Only stops what this call started. */
export async function ensureServices(): Promise<Services> {
  if (process.env.KAFKA_BROKERS && process.env.SCHEMA_REGISTRY_URL) {
    return { brokers: process.env.KAFKA_BROKERS, registryUrl: process.env.SCHEMA_REGISTRY_URL, stop: async () => undefined };
  }
  const k = await ensureKafka({ home: SERVICES_HOME, port: 0, log: quietLaunch });
  const r = await ensureRegistry({ home: SERVICES_HOME, brokers: k.address, port: 0, log: quietLaunch });
  return {
    brokers: k.address, registryUrl: r.address,
    async stop() { if (r.started) await r.stop(); if (k.started) await k.stop(); },
  };
}

export interface BenchEnv { env: Record<string, string>; config: Config; home: string; prefix: string; log: Logger; cleanup(): void }

/** Isolation per scenario: its own topic prefix and chDB directory on the shared services. */
export function benchEnv(name: string, extra: Record<string, string> = {}): BenchEnv {
  const home = mkdtempSync(join(tmpdir(), `tickflow-bench-${name}-`));
  const prefix = `b${name.replace(/[^a-z0-9]/gi, '')}${randomUUID().slice(0, 6)}.`;
  const env: Record<string, string> = {
    TICKFLOW_HOME: home,
    KAFKA_BROKERS: process.env.KAFKA_BROKERS!,
    SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL!,
    KAFKA_TOPIC_PREFIX: prefix,
    API_PORT: '0',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
    MARKET_SOURCE: 'synthetic',
    PROXY_SOURCES: 'none',
    API_RATE_LIMIT_PER_MINUTE: '1000000',
    ...extra,
  };
  return { env, config: loadConfig(env), home, prefix, log: createLogger(env.LOG_LEVEL), cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

/** Delete this scenario's topics (everything under its prefix). Best effort. */
export async function dropTopics(ctx: KafkaContext): Promise<void> {
  const admin = ctx.admin();
  try {
    await admin.connect();
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(ctx.prefix));
    if (mine.length) await admin.deleteTopics({ topics: mine, timeout: 30_000 });
  } catch { /* best effort */ } finally { await admin.disconnect().catch(() => undefined); }
}

/** End of a scenario: stop the pipeline, delete its topics, remove its temporary home. */
export async function teardown(p: { stop(): Promise<void>; kafka: KafkaContext }, t: BenchEnv): Promise<void> {
  await p.stop();
  await dropTopics(p.kafka);
  t.cleanup();
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
export function summarize(xs: number[]): { n: number; p50: number; p99: number; max: number; mean: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN, mean: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length) };
}
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const round = (x: number, d = 2) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);

/** Peak resident set (VmHWM) and current RSS of this process, MiB. */
export function rssMiB(): { rss: number; peak: number } {
  try {
    const s = readFileSync('/proc/self/status', 'utf8');
    const get = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) / 1024;
    return { rss: round(get('VmRSS'), 1), peak: round(get('VmHWM'), 1) };
  } catch { return { rss: round(process.memoryUsage().rss / 2 ** 20, 1), peak: NaN }; }
}

export function ratioFigure(f: Omit<Figure, 'ratio' | 'met'> & { minRatio?: number; maxRatio?: number; invert?: boolean }): Figure {
  const { minRatio, maxRatio, invert, ...rest } = f;
  const ratio = f.value !== null && f.baseline ? round(f.value / f.baseline, 3) : null;
  let met: boolean | null = null;
  if (ratio !== null && minRatio !== undefined) met = ratio >= minRatio;
  if (ratio !== null && maxRatio !== undefined) met = ratio <= maxRatio;
  void invert;
  return { ...rest, ratio, met };
}

export function scenarioMain(name: string, run: (quick: boolean) => Promise<ScenarioResult>): void {
  // Executed as a child of bench/run.ts: write the result JSON to BENCH_OUT and exit.
  const out = process.env.BENCH_OUT;
  // Only as the entry module (a scenario may import another's helpers).
  if (!out || !process.argv[1]?.endsWith(`/scenarios/${name}.ts`)) return;
  const quick = process.env.BENCH_QUICK === '1';
  const started = Date.now();
  const hard = setTimeout(() => { console.error(`[${name}] hard timeout, exiting`); process.exit(3); }, Number(process.env.BENCH_TIMEOUT_MS ?? 900_000));
  hard.unref();
  run(quick)
    .then(async (r) => { r.elapsed_ms = Date.now() - started; writeFileSync(out, JSON.stringify(r, null, 2)); process.exit(0); })
    .catch(async (err: Error) => {
      console.error(err);
      writeFileSync(out, JSON.stringify({ scenario: name, quick, figures: [], notes: [], error: String(err?.stack ?? err) } satisfies ScenarioResult, null, 2));
      process.exit(1);
    });
}

/** CPU-profile this process while `fn` runs; returns the top functions by self time. */
export async function profileTop<T>(fn: () => Promise<T>, top = 12): Promise<{ result: T; top: Array<{ fn: string; self_pct: number }>; modules: Array<{ fn: string; self_pct: number }> }> {
  const { Session } = await import('node:inspector/promises');
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.setSamplingInterval', { interval: 1000 });
  await s.post('Profiler.start');
  let result: T;
  try { result = await fn(); } finally { /* stop below */ }
  const { profile } = (await s.post('Profiler.stop')) as { profile: { nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>; samples: number[]; timeDeltas: number[] } };
  s.disconnect();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const mods = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const n = byId.get(id)!;
    const dt = profile.timeDeltas[i] ?? 0;
    const url = n.callFrame.url.replace(/^file:\/\//, '').replace(REPO + '/', '').replace(/.*node_modules\//, 'nm/');
    const key = `${n.callFrame.functionName || '(anonymous)'} ${url ? `${url}:${n.callFrame.lineNumber + 1}` : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
    const mod = !url ? (n.callFrame.functionName || '(native)') : url.startsWith('nm/') ? url.split('/').slice(0, url.split('/')[1]!.startsWith('@') ? 3 : 2).join('/') : url.startsWith('node:') ? 'node core' : url;
    mods.set(mod, (mods.get(mod) ?? 0) + dt);
    total += dt;
  });
  const list = [...self].sort((a, b) => b[1] - a[1]).slice(0, top).map(([fn, v]) => ({ fn, self_pct: round((100 * v) / Math.max(1, total), 1) }));
  const modules = [...mods].sort((a, b) => b[1] - a[1]).slice(0, top).map(([fn, v]) => ({ fn, self_pct: round((100 * v) / Math.max(1, total), 1) }));
  return { result: result!, top: list, modules };
}

/** Self time grouped by package / product folder (nm/<pkg>, processors/..., (idle), (gc), ...). */
export function groupTop(top: Array<{ fn: string; self_pct: number }>): string {
  return top.map((x) => `${x.fn} ${x.self_pct}%`).join('; ');
}

/** startPipeline with retries: topic creation right after other tenants' deletes can answer
 *  UNKNOWN_TOPIC_OR_PARTITION while leaders are elected (retriable; ensureTopics is idempotent). */
export async function startPipelineRetry(config: import('../runtime/config.ts').Config, log: Logger, hooks?: import('../bin/pipeline.ts').PipelineHooks): Promise<import('../bin/pipeline.ts').Pipeline> {
  const { startPipeline } = await import('../bin/pipeline.ts');
  let last: unknown;
  for (let i = 0; i < 4; i++) {
    try { return await startPipeline(config, log, hooks); } catch (err) {
      last = err;
      if (!(err as { retriable?: boolean }).retriable && !/topic-partition|leader|coordinator/i.test(String((err as Error).message))) throw err;
      console.error(`[bench] startPipeline failed (${(err as Error).message}); retrying`);
      await sleep(3000);
    }
  }
  throw last;
}
