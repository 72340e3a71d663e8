// Service level objectives: defined in configuration, fed by the API's own requests and by a
// freshness sampler that reads the health model, evaluated over a rolling window.
//
// Configuration: built-in defaults (below) overlaid with the JSON file TICKFLOW_SLO_FILE
// (default $TICKFLOW_HOME/slo.json): {"slos": [{"name": "api_availability", "objective": 0.999,
// "window_ms": 3600000}, ...]}. An entry with a known name overrides fields of that SLO; a new
// name adds an SLO (kind and the kind's fields required). POST /slo/config/{name} validates,
// applies and writes the file back, so a change survives a restart.
//
// Samples are kept in one-minute buckets (good/total and a latency histogram) for at most
// MAX_WINDOW_MS, so memory is bounded whatever the traffic. Compliance = good / total over the
// window; the error budget is (1 - objective) of the window's events, and "consumed" is the bad
// fraction over that allowance.
import { Literals } from '../schema-literals.ts';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

export const MAX_WINDOW_MS = 7 * 86_400_000;
const BUCKET_MS = 60_000;
/** Latency histogram bounds, ms (the last bucket is everything above). */
export const LATENCY_BOUNDS_MS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];

export const SLO_KINDS = ['availability', 'latency', 'freshness'] as const;
export type SloKind = (typeof SLO_KINDS)[number];

export const SloDefinitionSchema = Type.Object({
  name: Type.String({ pattern: '^[a-z0-9_.:-]{1,80}$' }),
  kind: Literals(SLO_KINDS),
  description: Type.String({ maxLength: 500 }),
  objective: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, description: 'Fraction of good events, e.g. 0.999' }),
  window_ms: Type.Integer({ minimum: 60_000, maximum: MAX_WINDOW_MS, description: 'Rolling compliance window' }),
  threshold_ms: Type.Union([Type.Integer({ minimum: 1, maximum: 86_400_000 }), Type.Null()], { description: 'latency: a request is good at or below it; freshness: data is fresh at or below this age' }),
  source: Type.Union([Type.String({ maxLength: 80 }), Type.Null()], { description: 'freshness: the health component it watches (exchange:<id>, proxy:<source>)' }),
  enabled: Type.Boolean(),
}, { additionalProperties: false });
export type SloDefinition = Static<typeof SloDefinitionSchema>;

export const SloPatchSchema = Type.Partial(Type.Omit(SloDefinitionSchema, ['name']), { additionalProperties: false });
export type SloPatch = Static<typeof SloPatchSchema>;

export const SLO_STATUSES = ['ok', 'at_risk', 'breached', 'no_data', 'disabled'] as const;
export type SloState = (typeof SLO_STATUSES)[number];

export const SloEvaluationSchema = Type.Object({
  name: Type.String(),
  kind: Type.String(),
  status: Literals(SLO_STATUSES),
  objective: Type.Number(),
  window_ms: Type.Integer(),
  total: Type.Integer(),
  good: Type.Integer(),
  bad: Type.Integer(),
  compliance: Type.Union([Type.Number(), Type.Null()], { description: 'good / total over the window; null without samples' }),
  error_budget: Type.Object({
    allowed_bad: Type.Number({ description: 'Bad events the objective allows over the window, (1 - objective) x total' }),
    consumed: Type.Union([Type.Number(), Type.Null()], { description: 'Fraction of the budget used; above 1 means breached' }),
    remaining: Type.Union([Type.Number(), Type.Null()]),
  }),
  p50_ms: Type.Union([Type.Number(), Type.Null()]),
  p99_ms: Type.Union([Type.Number(), Type.Null()]),
  threshold_ms: Type.Union([Type.Integer(), Type.Null()]),
  source: Type.Union([Type.String(), Type.Null()]),
});
export type SloEvaluation = Static<typeof SloEvaluationSchema>;

interface Bucket { start: number; good: number; total: number; hist: number[] }

/** One-minute buckets of good/total and latency counts, trimmed to MAX_WINDOW_MS. */
export class RollingSamples {
  private readonly buckets: Bucket[] = [];

  add(now: number, good: number, total: number, valueMs: number | null = null): void {
    const start = now - (now % BUCKET_MS);
    let b = this.buckets[this.buckets.length - 1];
    if (!b || b.start !== start) {
      b = { start, good: 0, total: 0, hist: new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0) };
      this.buckets.push(b);
      while (this.buckets.length && this.buckets[0]!.start < now - MAX_WINDOW_MS) this.buckets.shift();
    }
    b.good += good;
    b.total += total;
    if (valueMs !== null) {
      let i = LATENCY_BOUNDS_MS.findIndex((x) => valueMs <= x);
      if (i < 0) i = LATENCY_BOUNDS_MS.length;
      b.hist[i]! += total;
    }
  }

  window(now: number, windowMs: number): { good: number; total: number; hist: number[] } {
    const from = now - windowMs;
    const hist = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
    let good = 0;
    let total = 0;
    for (const b of this.buckets) {
      if (b.start + BUCKET_MS <= from || b.start > now) continue;
      good += b.good;
      total += b.total;
      b.hist.forEach((n, i) => { hist[i]! += n; });
    }
    return { good, total, hist };
  }
}

/** Upper bound of the bucket holding quantile q; null without samples. */
export function quantileFromHistogram(hist: number[], q: number): number | null {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= rank) return i < LATENCY_BOUNDS_MS.length ? LATENCY_BOUNDS_MS[i]! : LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]! * 2;
  }
  return null;
}

/** Status from good/total: breached below the objective; at risk with under a quarter of the budget left. */
export function evaluate(def: SloDefinition, w: { good: number; total: number; hist: number[] }): SloEvaluation {
  const bad = w.total - w.good;
  const allowed = (1 - def.objective) * w.total;
  const compliance = w.total > 0 ? w.good / w.total : null;
  const consumed = w.total > 0 ? (allowed > 0 ? bad / allowed : bad > 0 ? Infinity : 0) : null;
  let status: SloState;
  if (!def.enabled) status = 'disabled';
  else if (compliance === null) status = 'no_data';
  else if (compliance < def.objective) status = 'breached';
  else if (consumed !== null && consumed > 0.75) status = 'at_risk';
  else status = 'ok';
  const round = (x: number) => Math.round(x * 1e6) / 1e6;
  return {
    name: def.name, kind: def.kind, status, objective: def.objective, window_ms: def.window_ms,
    total: w.total, good: w.good, bad,
    compliance: compliance === null ? null : round(compliance),
    error_budget: { allowed_bad: round(allowed), consumed: consumed === null ? null : round(Math.min(consumed, 1e9)), remaining: consumed === null ? null : round(1 - Math.min(consumed, 1e9)) },
    p50_ms: quantileFromHistogram(w.hist, 0.5), p99_ms: quantileFromHistogram(w.hist, 0.99),
    threshold_ms: def.threshold_ms, source: def.source,
  };
}

export const ReleaseGateSchema = Type.Object({
  pass: Type.Boolean(),
  checked_at: Type.String({ format: 'date-time' }),
  reasons: Type.Array(Type.String()),
  slos: Type.Array(Type.Object({ name: Type.String(), status: Type.String(), compliance: Type.Union([Type.Number(), Type.Null()]) })),
});
export type ReleaseGate = Static<typeof ReleaseGateSchema>;

/** Fails on any breached SLO and on a service that is down; SLOs without data do not block. */
export function releaseGate(evals: SloEvaluation[], healthStatus: 'ok' | 'degraded' | 'down', healthReasons: string[], now: number): ReleaseGate {
  const reasons: string[] = [];
  for (const e of evals) {
    if (e.status === 'breached') reasons.push(`SLO ${e.name} breached: compliance ${e.compliance} below objective ${e.objective} over ${e.window_ms / 60_000} min`);
  }
  if (healthStatus === 'down') reasons.push(`health is down: ${healthReasons.slice(0, 3).join('; ') || 'see /api/v1/monitoring/health'}`);
  const pass = reasons.length === 0;
  if (pass) {
    const measured = evals.filter((e) => e.status === 'ok' || e.status === 'at_risk').length;
    reasons.push(`all ${measured} measured SLOs meet their objective; health ${healthStatus}`);
    for (const e of evals) if (e.status === 'at_risk') reasons.push(`SLO ${e.name} at risk: ${Math.round((e.error_budget.remaining ?? 0) * 100)}% of error budget left`);
    const noData = evals.filter((e) => e.status === 'no_data').map((e) => e.name);
    if (noData.length) reasons.push(`no samples yet (not blocking): ${noData.join(', ')}`);
  }
  return { pass, checked_at: new Date(now).toISOString(), reasons, slos: evals.map((e) => ({ name: e.name, status: e.status, compliance: e.compliance })) };
}

/** The built-in SLOs: API availability and p99 latency, and freshness per exchange and proxy source. */
export function defaultSlos(exchanges: string[], proxySources: string[]): SloDefinition[] {
  return [
    { name: 'api_availability', kind: 'availability', description: 'API requests answered without a 5xx', objective: 0.999, window_ms: 3_600_000, threshold_ms: null, source: null, enabled: true },
    { name: 'api_latency_p99', kind: 'latency', description: '99% of API requests answered within 500 ms', objective: 0.99, window_ms: 3_600_000, threshold_ms: 500, source: null, enabled: true },
    ...exchanges.map((e): SloDefinition => ({ name: `freshness_exchange_${e}`, kind: 'freshness', description: `Ticks from ${e} at most 30 s old`, objective: 0.99, window_ms: 3_600_000, threshold_ms: 30_000, source: `exchange:${e}`, enabled: true })),
    ...proxySources.map((s): SloDefinition => ({ name: `freshness_proxy_${s}`, kind: 'freshness', description: `${s} snapshot at most 30 min old`, objective: 0.95, window_ms: 6 * 3_600_000, threshold_ms: 1_800_000, source: `proxy:${s}`, enabled: true })),
  ];
}

export class SloConfigError extends Error { override readonly name = 'SloConfigError'; }

function firstError(schema: Parameters<typeof Value.Errors>[0], v: unknown, where: string): string | null {
  const e = Value.Errors(schema, v).First();
  return e ? `${where}${e.path || '/'}: ${e.message}` : null;
}

/** Overlays file entries on the defaults; throws SloConfigError naming the entry and field. */
export function mergeSloConfig(defaults: SloDefinition[], file: unknown): SloDefinition[] {
  const out = new Map(defaults.map((d) => [d.name, { ...d }]));
  if (file === null || file === undefined) return [...out.values()];
  const entries = (file as { slos?: unknown }).slos;
  if (!Array.isArray(entries)) throw new SloConfigError('slo config: "slos" must be an array');
  entries.forEach((raw, i) => {
    const name = (raw as { name?: unknown })?.name;
    if (typeof name !== 'string') throw new SloConfigError(`slo config: slos[${i}].name must be a string`);
    const base = out.get(name);
    const merged = base ? { ...base, ...(raw as object) } : { description: '', threshold_ms: null, source: null, enabled: true, ...(raw as object) };
    const err = firstError(SloDefinitionSchema, merged, `slo config: slos[${i}] (${name})`);
    if (err) throw new SloConfigError(err);
    out.set(name, merged as SloDefinition);
  });
  return [...out.values()];
}

export type SloSample = { good: number; total: number; value_ms?: number } | { value_ms: number };

export class SloEngine {
  private defs: Map<string, SloDefinition>;
  private readonly samples = new Map<string, RollingSamples>();
  private readonly defaults: SloDefinition[];

  constructor(defaults: SloDefinition[], private readonly file: string | null) {
    this.defaults = defaults;
    const fromFile = file && existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as unknown) : null;
    this.defs = new Map(mergeSloConfig(defaults, fromFile).map((d) => [d.name, d]));
  }

  list(): SloDefinition[] { return [...this.defs.values()]; }
  get(name: string): SloDefinition | undefined { return this.defs.get(name); }

  /** Validates and applies a change (or a new SLO), then persists the overrides. */
  configure(name: string, patch: SloPatch): SloDefinition {
    const base = this.defs.get(name);
    const merged = base ? { ...base, ...patch, name } : { description: '', threshold_ms: null, source: null, enabled: true, ...patch, name };
    const err = firstError(SloDefinitionSchema, merged, `body`);
    if (err) throw new SloConfigError(base ? err : `${err} (a new SLO needs kind, objective and window_ms)`);
    const def = merged as SloDefinition;
    if (def.kind !== 'availability' && def.threshold_ms === null) throw new SloConfigError(`body/threshold_ms: a ${def.kind} SLO needs threshold_ms`);
    if (def.kind === 'freshness' && def.source === null) throw new SloConfigError('body/source: a freshness SLO needs the component it watches, e.g. exchange:binance');
    this.defs.set(name, def);
    this.persist();
    return def;
  }

  /** Adds a default SLO at run time (not persisted: it follows from what is running). */
  add(def: SloDefinition): void {
    if (!this.defs.has(def.name)) this.defs.set(def.name, def);
  }

  private persist(): void {
    if (!this.file) return;
    const defaults = new Map(this.defaults.map((d) => [d.name, d]));
    const slos = this.list().flatMap((d) => {
      const base = defaults.get(d.name);
      if (!base) return [d];
      const diff = Object.fromEntries(Object.entries(d).filter(([k, v]) => (base as Record<string, unknown>)[k] !== v));
      return Object.keys(diff).length ? [{ name: d.name, ...diff }] : [];
    });
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileSync(this.file, JSON.stringify({ slos }, null, 2) + '\n');
  }

  private series(name: string): RollingSamples {
    let s = this.samples.get(name);
    if (!s) this.samples.set(name, (s = new RollingSamples()));
    return s;
  }

  /** A sample for one SLO: counts, or a measured value judged against its threshold. */
  record(name: string, sample: SloSample, now = Date.now()): SloDefinition {
    const def = this.defs.get(name);
    if (!def) throw new SloConfigError(`unknown SLO ${name}`);
    if ('good' in sample) {
      if (sample.good > sample.total) throw new SloConfigError('body/good: must not exceed total');
      this.series(name).add(now, sample.good, sample.total, sample.value_ms ?? null);
    } else {
      if (def.threshold_ms === null) throw new SloConfigError(`body/value_ms: SLO ${name} (${def.kind}) has no threshold; send good and total`);
      const good = sample.value_ms <= def.threshold_ms ? 1 : 0;
      this.series(name).add(now, good, 1, sample.value_ms);
    }
    return def;
  }

  /**
   * Every answered API request feeds the availability and latency SLOs; slowOnPurpose requests
   * (dumps and profiles, which take as long as they are asked to) count for availability only.
   */
  recordRequest(statusCode: number, ms: number, now = Date.now(), slowOnPurpose = false): void {
    for (const d of this.defs.values()) {
      if (d.kind === 'availability') this.series(d.name).add(now, statusCode < 500 ? 1 : 0, 1, ms);
      else if (d.kind === 'latency' && !slowOnPurpose) this.series(d.name).add(now, ms <= (d.threshold_ms ?? Infinity) ? 1 : 0, 1, ms);
    }
  }

  /** Freshness samples: the age of each watched component (null: no data, which counts as bad). */
  recordFreshness(ages: Map<string, number | null>, now = Date.now()): void {
    for (const d of this.defs.values()) {
      if (d.kind !== 'freshness' || !d.source || !ages.has(d.source)) continue;
      const age = ages.get(d.source)!;
      if (age === null) continue; // never seen: no_data rather than a breach of a source that is not running
      this.series(d.name).add(now, age <= (d.threshold_ms ?? Infinity) ? 1 : 0, 1, age);
    }
  }

  evaluate(name: string, now = Date.now()): SloEvaluation {
    const def = this.defs.get(name);
    if (!def) throw new SloConfigError(`unknown SLO ${name}`);
    return evaluate(def, this.samples.get(name)?.window(now, def.window_ms) ?? { good: 0, total: 0, hist: new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0) });
  }

  evaluateAll(now = Date.now()): SloEvaluation[] {
    return this.list().map((d) => this.evaluate(d.name, now));
  }
}
