import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSlos, evaluate, mergeSloConfig, quantileFromHistogram, releaseGate, RollingSamples, SloConfigError, SloEngine, LATENCY_BOUNDS_MS } from '../../../query-api/monitoring/slo.ts';

const NOW = 1_800_000_000_000;
const defs = () => defaultSlos(['binance'], ['newsapi']);

describe('SLOs', () => {
  it('has the required defaults: availability, p99 latency, and freshness per source', () => {
    const names = defs().map((d) => d.name);
    expect(names).toEqual(['api_availability', 'api_latency_p99', 'freshness_exchange_binance', 'freshness_proxy_newsapi']);
  });

  it('computes compliance and error budget, and the status from them', () => {
    const def = defs()[0]!; // 0.999
    const hist = new Array(LATENCY_BOUNDS_MS.length + 1).fill(0);
    expect(evaluate(def, { good: 10_000, total: 10_000, hist })).toMatchObject({ status: 'ok', compliance: 1, error_budget: { allowed_bad: 10, consumed: 0, remaining: 1 } });
    // 8 bad of 10,000 uses 80% of a budget of 10: still compliant, but at risk.
    expect(evaluate(def, { good: 9992, total: 10_000, hist })).toMatchObject({ status: 'at_risk', error_budget: { consumed: 0.8 } });
    const breached = evaluate(def, { good: 9980, total: 10_000, hist });
    expect(breached.status).toBe('breached');
    expect(breached.error_budget.consumed).toBe(2);
    expect(breached.error_budget.remaining).toBe(-1);
    expect(evaluate(def, { good: 0, total: 0, hist }).status).toBe('no_data');
    expect(evaluate({ ...def, enabled: false }, { good: 0, total: 10, hist }).status).toBe('disabled');
  });

  it('keeps samples in minute buckets and evaluates only the window', () => {
    const s = new RollingSamples();
    s.add(NOW - 2 * 3_600_000, 0, 100); // outside a 1 h window
    s.add(NOW - 60_000, 99, 100, 20);
    s.add(NOW, 1, 1, 2000);
    const w = s.window(NOW, 3_600_000);
    expect(w).toMatchObject({ good: 100, total: 101 });
    expect(quantileFromHistogram(w.hist, 0.5)).toBe(25);
    expect(quantileFromHistogram(w.hist, 0.999)).toBe(2500);
  });

  it('feeds availability and latency from requests, and freshness from measured ages', () => {
    const e = new SloEngine(defs(), null);
    for (let i = 0; i < 99; i++) e.recordRequest(200, 10, NOW);
    e.recordRequest(503, 900, NOW);
    expect(e.evaluate('api_availability', NOW)).toMatchObject({ total: 100, good: 99, status: 'breached' });
    expect(e.evaluate('api_latency_p99', NOW)).toMatchObject({ total: 100, good: 99, p99_ms: 10 });
    // A dump request counts for availability only.
    e.recordRequest(201, 10_000, NOW, true);
    expect(e.evaluate('api_latency_p99', NOW).total).toBe(100);
    expect(e.evaluate('api_availability', NOW).total).toBe(101);
    e.recordFreshness(new Map([['exchange:binance', 1000], ['proxy:newsapi', null]]), NOW);
    expect(e.evaluate('freshness_exchange_binance', NOW)).toMatchObject({ total: 1, good: 1 });
    expect(e.evaluate('freshness_proxy_newsapi', NOW).status).toBe('no_data');
    e.recordFreshness(new Map([['exchange:binance', 45_000]]), NOW);
    expect(e.evaluate('freshness_exchange_binance', NOW)).toMatchObject({ total: 2, good: 1, status: 'breached' });
  });

  it('records manual samples as counts or as values against the threshold, and refuses nonsense', () => {
    const e = new SloEngine(defs(), null);
    e.record('api_latency_p99', { value_ms: 100 }, NOW);
    e.record('api_latency_p99', { value_ms: 600 }, NOW);
    expect(e.evaluate('api_latency_p99', NOW)).toMatchObject({ total: 2, good: 1 });
    e.record('api_availability', { good: 5, total: 5 }, NOW);
    expect(e.evaluate('api_availability', NOW)).toMatchObject({ total: 5, good: 5 });
    expect(() => e.record('api_availability', { value_ms: 3 }, NOW)).toThrow(SloConfigError);
    expect(() => e.record('api_availability', { good: 6, total: 5 }, NOW)).toThrow(/good/);
    expect(() => e.record('nope', { good: 1, total: 1 }, NOW)).toThrow(/unknown SLO/);
  });

  it('loads overrides from the SLO file, validates them naming the field, and persists changes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slo-'));
    const file = join(dir, 'slo.json');
    writeFileSync(file, JSON.stringify({ slos: [{ name: 'api_availability', objective: 0.99 }, { name: 'ingest_lag', kind: 'latency', objective: 0.9, window_ms: 600_000, threshold_ms: 100 }] }));
    const e = new SloEngine(defs(), file);
    expect(e.get('api_availability')!.objective).toBe(0.99);
    expect(e.get('ingest_lag')).toMatchObject({ kind: 'latency', enabled: true });
    expect(() => mergeSloConfig(defs(), { slos: [{ name: 'api_availability', objective: 2 }] })).toThrow(/slos\[0\] \(api_availability\)\/objective/);
    expect(() => mergeSloConfig(defs(), { slos: {} })).toThrow(/must be an array/);
    expect(() => e.configure('api_latency_p99', { window_ms: 5 })).toThrow(/window_ms/);
    expect(() => e.configure('new_fresh', { kind: 'freshness', objective: 0.9, window_ms: 60_000, threshold_ms: 10 })).toThrow(/source/);
    e.configure('api_latency_p99', { threshold_ms: 250 });
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { slos: Array<Record<string, unknown>> };
    expect(saved.slos).toContainEqual({ name: 'api_latency_p99', threshold_ms: 250 });
    expect(saved.slos).toContainEqual({ name: 'api_availability', objective: 0.99 });
    expect(new SloEngine(defs(), file).get('api_latency_p99')!.threshold_ms).toBe(250);
  });

  it('passes the release gate unless an SLO is breached or the service is down, with reasons', () => {
    const e = new SloEngine(defs(), null);
    e.record('api_availability', { good: 100, total: 100 }, NOW);
    const pass = releaseGate(e.evaluateAll(NOW), 'degraded', [], NOW);
    expect(pass.pass).toBe(true);
    expect(pass.reasons[0]).toContain('all 1 measured SLOs');
    expect(pass.reasons.join()).toContain('no samples yet');
    e.record('api_availability', { good: 0, total: 10 }, NOW);
    const fail = releaseGate(e.evaluateAll(NOW), 'down', ['kafka down: unreachable'], NOW);
    expect(fail.pass).toBe(false);
    expect(fail.reasons).toEqual([expect.stringContaining('SLO api_availability breached'), 'health is down: kafka down: unreachable']);
  });
});
