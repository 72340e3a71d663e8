import { RSI } from 'technicalindicators';
import { describe, expect, it } from 'vitest';
import {
  buildDataset,
  buildDatasetFromCandles,
  computeFeatureTable,
  FeatureBuilder,
  featureNames,
  featureWarmup,
  fitNormalization,
  DEFAULT_FEATURE_CONFIG,
} from '../../../processors/ml/features.ts';
import type { Candle } from '../../../schemas/generated/events.ts';
import { syntheticCandles } from './synthetic-candles.ts';

/** Candles after index `k` changed: prices scaled and bent, volumes replaced. Times stay. */
function alterAfter(candles: readonly Candle[], k: number): Candle[] {
  return candles.map((c, i) => {
    if (i <= k) return c;
    const f = 1.3 + 0.01 * (i % 7);
    return { ...c, open: c.open * f, high: c.high * f * 1.01, low: c.low * f * 0.99, close: c.close * f * (1 + 0.002 * Math.sin(i)), volume: c.volume * 3 + (i % 5) };
  });
}

describe('features', () => {
  const candles = syntheticCandles({ count: 400, seed: 11 });

  it('warms up for featureWarmup candles, then yields one named row per candle', () => {
    const table = computeFeatureTable(candles);
    const warmup = featureWarmup();
    expect(table.rows[warmup - 1]).toBeNull();
    expect(table.rows[warmup]).not.toBeNull();
    expect(table.rows.slice(warmup).every((r) => r !== null && r.length === table.names.length && r.every(Number.isFinite))).toBe(true);
    expect(table.names).toEqual(featureNames(DEFAULT_FEATURE_CONFIG));
  });

  it('matches the streaming builder fed one candle at a time', () => {
    const builder = new FeatureBuilder();
    const streamed = candles.map((c) => builder.next(c));
    expect(streamed).toEqual(computeFeatureTable(candles).rows);
  });

  it('computes log returns and RSI as documented', () => {
    const table = computeFeatureTable(candles);
    const i = 200;
    const row = table.rows[i]!;
    expect(row[0]).toBeCloseTo(Math.log(candles[i]!.close / candles[i - 1]!.close), 12);
    expect(row[1]).toBeCloseTo(Math.log(candles[i]!.close / candles[i - 5]!.close), 12);
    const rsi = RSI.calculate({ period: 14, values: candles.slice(0, i + 1).map((c) => c.close) });
    expect(row[3]).toBeCloseTo((rsi[rsi.length - 1]! - 50) / 50, 10);
  });

  it('lookahead: changing candles after T leaves every row at or before T unchanged', () => {
    const k = 250; // T = candles[k].open_time
    const original = computeFeatureTable(candles);
    const altered = computeFeatureTable(alterAfter(candles, k));
    const truncated = computeFeatureTable(candles.slice(0, k + 1));
    expect(altered.rows.slice(0, k + 1)).toEqual(original.rows.slice(0, k + 1));
    expect(truncated.rows).toEqual(original.rows.slice(0, k + 1));
    // The change is real: later rows differ.
    expect(altered.rows[k + 1]).not.toEqual(original.rows[k + 1]);
  });

  it('lookahead: dataset samples at or before T keep their inputs; labels only use candles before `to`', () => {
    const k = 250;
    const T = candles[k]!.open_time;
    const horizon = 3;
    const a = buildDatasetFromCandles(candles, { horizon, lookback: 6, requireLabel: false });
    const b = buildDatasetFromCandles(alterAfter(candles, k), { horizon, lookback: 6, requireLabel: false });
    const upTo = a.times.filter((t) => t <= T).length;
    expect(upTo).toBeGreaterThan(100);
    expect(b.X.slice(0, upTo)).toEqual(a.X.slice(0, upTo));
    expect(b.times.slice(0, upTo)).toEqual(a.times.slice(0, upTo));

    const training = buildDataset(computeFeatureTable(candles), { horizon, lookback: 6, to: T });
    for (let s = 0; s < training.X.length; s++) {
      const idx = training.indices[s]!;
      expect(candles[idx + horizon]!.open_time).toBeLessThan(T);
      expect(training.y[s]).toBeCloseTo(Math.log(candles[idx + horizon]!.close / candles[idx]!.close), 12);
    }
    // Normalization fitted on the training window does not move when the future changes.
    const trainingAltered = buildDataset(computeFeatureTable(alterAfter(candles, k - 1)), { horizon, lookback: 6, to: T });
    expect(fitNormalization(trainingAltered)).toEqual(fitNormalization(training));
  });

  it('requireLabel=false keeps the newest rows with NaN labels', () => {
    const ds = buildDatasetFromCandles(candles, { horizon: 2, lookback: 4, requireLabel: false });
    expect(ds.times[ds.times.length - 1]).toBe(candles[candles.length - 1]!.open_time);
    expect(Number.isNaN(ds.y[ds.y.length - 1])).toBe(true);
    expect(Number.isNaN(ds.y[ds.y.length - 2])).toBe(true);
    expect(Number.isFinite(ds.y[ds.y.length - 3])).toBe(true);
  });

  it('rejects unordered candles and bad windows', () => {
    expect(() => computeFeatureTable([candles[1]!, candles[0]!])).toThrow(/increasing open_time/);
    expect(() => buildDatasetFromCandles(candles, { horizon: 0, lookback: 4 })).toThrow(/horizon/);
  });
});
