import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  directionConfidence,
  directionOf,
  loadModel,
  predict,
  predictSeries,
  saveModel,
  scorePredictions,
  toPredictionFields,
  train,
  type TrainOptions,
  type TrainProgress,
} from '../../../processors/ml/model.ts';
import { loadTf } from '../../../processors/ml/tf-backend.ts';
import { syntheticCandles } from './synthetic-candles.ts';

const TINY: TrainOptions = { horizon: 1, lookback: 6, epochs: 4, hiddenUnits: 8, batchSize: 32, seed: 3 };
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('model', () => {
  const candles = syntheticCandles({ count: 500, seed: 5 });

  it('trains a tiny MLP with per-epoch progress and held-out metrics', async () => {
    const { backend } = await loadTf();
    const events: TrainProgress[] = [];
    const result = await train(candles, TINY, (p) => events.push(p));

    expect(events.map((e) => e.epoch)).toEqual([1, 2, 3, 4]);
    for (const e of events) {
      expect(e.epochs).toBe(4);
      expect(Number.isFinite(e.loss)).toBe(true);
      expect(Number.isFinite(e.val_loss)).toBe(true);
      expect(e.elapsed_ms).toBeGreaterThanOrEqual(0);
      expect(e.eta_ms).toBeGreaterThanOrEqual(0);
    }
    expect(events[3]!.eta_ms).toBe(0);
    expect(result.stopped).toBe(false);
    expect(result.epochs_run).toBe(4);
    expect(result.history).toEqual(events);

    const m = result.metrics;
    expect(m.samples).toBeGreaterThan(50);
    expect(m.mae).toBeGreaterThan(0);
    expect(m.rmse).toBeGreaterThanOrEqual(m.mae);
    expect(m.directional_accuracy).toBeGreaterThanOrEqual(0);
    expect(m.directional_accuracy).toBeLessThanOrEqual(1);

    const meta = result.model.metadata;
    expect(meta.backend).toBe(backend);
    expect(['tensorflow', 'wasm', 'cpu']).toContain(meta.backend);
    expect(meta.symbol).toBe('BTC/USDT');
    expect(meta.interval).toBe('1m');
    expect(meta.features).toHaveLength(meta.normalization.feature_mean.length);
    // Training window ends before the held-out window (with the horizon purge between them).
    expect(meta.training_window.to).toBeLessThan(meta.validation_window.from);
    expect(meta.validation_window.to).toBeLessThanOrEqual(candles[candles.length - 1]!.open_time);
    result.model.network.dispose();
  });

  it('same seed and data train the same model (walk-forward relies on it)', async () => {
    const a = await train(candles, TINY);
    const b = await train(candles, TINY);
    expect(b.held_out.predicted).toEqual(a.held_out.predicted);
    a.model.network.dispose();
    b.model.network.dispose();
  });

  it('save/load round trip gives the same predictions (MLP and LSTM)', async () => {
    for (const kind of ['mlp', 'lstm'] as const) {
      const result = await train(candles, { ...TINY, kind, epochs: 2 });
      const dir = await mkdtemp(path.join(tmpdir(), `tickflow-model-${kind}-`));
      dirs.push(dir);
      await saveModel(result.model, dir);
      for (const file of ['model.json', 'weights.bin', 'metadata.json']) expect((await stat(path.join(dir, file))).size).toBeGreaterThan(0);
      const metadata = JSON.parse(await readFile(path.join(dir, 'metadata.json'), 'utf8'));
      expect(metadata.model_id).toBe(result.model.metadata.model_id);
      expect(metadata.normalization.feature_std).toEqual(result.model.metadata.normalization.feature_std);

      const loaded = await loadModel(dir);
      expect(loaded.metadata).toEqual(result.model.metadata);
      const before = await predictSeries(result.model, candles);
      const after = await predictSeries(loaded, candles);
      expect(before.results.length).toBeGreaterThan(400);
      expect(after).toEqual(before);
      result.model.network.dispose();
      loaded.network.dispose();
    }
  });

  it('predict returns the latest candle\'s return, direction and a 0..1 confidence', async () => {
    const result = await train(candles, { ...TINY, epochs: 2 });
    const model = result.model;
    const recent = candles.slice(-120);
    const p = await predict(model, recent);
    expect(p.as_of).toBe(recent[recent.length - 1]!.open_time);
    expect(p.price).toBe(recent[recent.length - 1]!.close);
    expect(p.direction).toBe(directionOf(p.predicted_return, model.metadata.flat_band));
    expect(p.confidence).toBeGreaterThanOrEqual(0);
    expect(p.confidence).toBeLessThanOrEqual(1);
    const fields = toPredictionFields(model.metadata, p);
    expect(fields).toMatchObject({ symbol: 'BTC/USDT', interval: '1m', horizon: 1, model_id: model.metadata.model_id, backend: model.metadata.backend });
    await expect(predict(model, candles.slice(-10))).rejects.toThrow(/at least/);
    model.network.dispose();
  });

  it('lookahead: predictions at or before T ignore candles after T', async () => {
    const result = await train(candles.slice(0, 300), { ...TINY, epochs: 2 });
    const k = 380;
    const altered = candles.map((c, i) => (i > k ? { ...c, close: c.close * 1.4, high: c.high * 1.5, volume: c.volume * 9 } : c));
    const a = await predictSeries(result.model, candles);
    const b = await predictSeries(result.model, altered);
    const upTo = a.times.filter((t) => t <= candles[k]!.open_time).length;
    expect(b.results.slice(0, upTo)).toEqual(a.results.slice(0, upTo));
    expect(b.results.slice(upTo)).not.toEqual(a.results.slice(upTo));
    result.model.network.dispose();
  });

  it('a stop request ends training within one epoch and the result says stopped', async () => {
    let stop = false;
    const seen: number[] = [];
    const result = await train(candles, { ...TINY, epochs: 50 }, (p) => {
      seen.push(p.epoch);
      if (p.epoch === 2) stop = true;
    }, () => stop);
    expect(result.stopped).toBe(true);
    expect(result.epochs_requested).toBe(50);
    expect(result.epochs_run).toBeLessThan(50);
    expect(result.epochs_run).toBeLessThanOrEqual(3);
    expect(seen).toEqual([1, 2]);
    expect(result.stop_observed_after_epochs).toBe(2);
    expect(result.model.metadata.stopped).toBe(true);
    expect(Number.isFinite(result.metrics.mae)).toBe(true);
    result.model.network.dispose();
  });

  it('a stop raised between batches ends the current epoch early', async () => {
    let calls = 0;
    const result = await train(candles, { ...TINY, epochs: 50, batchSize: 16 }, undefined, () => ++calls > 30);
    expect(result.stopped).toBe(true);
    expect(result.epochs_run).toBeLessThan(50);
    expect(result.history).toHaveLength(result.epochs_run);
    result.model.network.dispose();
  });

  it('rejects too little data with a message that says why', async () => {
    await expect(train(candles.slice(0, 50), TINY)).rejects.toThrow(/not enough candles/);
  });
});

describe('scores and confidence', () => {
  it('scorePredictions: MAE, RMSE and directional accuracy by hand', () => {
    // errors: 0.01, 0.02, 0.03, (NaN skipped); |e| mean 0.02; rmse sqrt((1+4+9)/3)e-4.
    // signs: (+,+) hit, (-,+) miss, (+,+) hit -> 2/3.
    const s = scorePredictions([0.02, -0.01, 0.01, Number.NaN], [0.01, 0.01, 0.04, 0.5]);
    expect(s.samples).toBe(3);
    expect(s.mae).toBeCloseTo(0.02, 12);
    expect(s.rmse).toBeCloseTo(Math.sqrt(14e-4 / 3), 12);
    expect(s.directional_accuracy).toBeCloseTo(2 / 3, 12);
    expect(s.mae_zero_baseline).toBeCloseTo(0.04 / 3, 12);
  });

  it('confidence is the probability of the stated direction under Normal(pred, rmse)', () => {
    expect(directionOf(0.0001, 0.001)).toBe('FLAT');
    expect(directionOf(0.002, 0.001)).toBe('UP');
    expect(directionOf(-0.002, 0.001)).toBe('DOWN');
    // UP at exactly one sigma above the band: 1 - Phi(-1) = 0.8413.
    expect(directionConfidence(0.011, 'UP', 0.001, 0.01)).toBeCloseTo(0.8413, 3);
    expect(directionConfidence(-0.011, 'DOWN', 0.001, 0.01)).toBeCloseTo(0.8413, 3);
    // FLAT at 0 with band = sigma: Phi(1) - Phi(-1) = 0.6827.
    expect(directionConfidence(0, 'FLAT', 0.01, 0.01)).toBeCloseTo(0.6827, 3);
    expect(directionConfidence(1, 'UP', 0.001, 0.01)).toBeCloseTo(1, 9);
  });
});
