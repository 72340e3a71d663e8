import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listArtifacts } from '../../../processors/backtest/artifacts.ts';
import { ModelRegistry } from '../../../processors/ml/model-registry.ts';
import { predict, type TrainProgress } from '../../../processors/ml/model.ts';
import { runTrainingInWorker, runTrainingJob, type TrainingJobSpec } from '../../../processors/ml/training-job.ts';
import { syntheticCandles } from './synthetic-candles.ts';

describe('training jobs and the model registry', () => {
  let root: string;
  const candles = syntheticCandles({ count: 450, seed: 8 });
  const spec = (overrides: Partial<TrainingJobSpec>): TrainingJobSpec => ({
    job_id: 'job-1',
    symbol: 'BTC/USDT',
    interval: '1m',
    horizon: 1,
    epochs: 3,
    lookback: 4,
    hidden_units: 8,
    batch_size: 32,
    models_root: path.join(root, 'models'),
    artifacts_root: path.join(root, 'artifacts'),
    ...overrides,
  });

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tickflow-jobs-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('trains in a worker thread: progress, result, registry entry, active model, artifacts, predictions', async () => {
    const progress: TrainProgress[] = [];
    const started: string[] = [];
    const job = runTrainingInWorker(spec({ job_id: 'worker-train', model_id: 'btc-worker-model' }), candles, {
      onStarted: (e) => started.push(e.backend),
      onProgress: (p) => progress.push(p),
    });
    expect(job.threadId).toBeGreaterThan(0);
    const result = await job.promise;

    expect(started).toHaveLength(1);
    expect(['tensorflow', 'wasm', 'cpu']).toContain(started[0]);
    expect(progress.map((p) => p.epoch)).toEqual([1, 2, 3]);
    expect(result).toMatchObject({ job_id: 'worker-train', status: 'completed', model_id: 'btc-worker-model', epochs_run: 3, epochs_requested: 3, activated: true, backend: started[0] });
    expect(result.history).toEqual(progress);
    expect(Number.isFinite(result.metrics.mae)).toBe(true);

    const registry = new ModelRegistry(path.join(root, 'models'));
    const models = await registry.list();
    expect(models.map((m) => m.model_id)).toEqual(['btc-worker-model']);
    expect(await registry.getMetrics('btc-worker-model')).toEqual(result.metrics);
    expect(await registry.getActive('BTC/USDT')).toMatchObject({ model_id: 'btc-worker-model' });
    expect(result.model_dir).toBe(registry.modelDir('btc-worker-model'));
    for (const file of ['model.json', 'weights.bin', 'metadata.json']) expect((await stat(path.join(result.model_dir, file))).isFile()).toBe(true);

    const model = await registry.loadActive('BTC/USDT');
    expect(model).not.toBeNull();
    const p = await predict(model!, candles.slice(-100));
    expect(p.confidence).toBeGreaterThanOrEqual(0);
    expect(p.confidence).toBeLessThanOrEqual(1);

    const artifacts = (await listArtifacts(path.join(root, 'artifacts'))).filter((a) => a.run_id === 'worker-train');
    expect(artifacts.map((a) => a.name).sort()).toEqual(['equity.csv', 'equity.png', 'held_out.csv', 'loss.csv', 'metrics.json']);
    expect(result.artifacts.map((a) => a.name).sort()).toEqual(artifacts.map((a) => a.name).sort());
  });

  it('a stop request ends a worker job within one epoch; its status says stopped and it is not activated', async () => {
    let stoppedAt = 0;
    const job = runTrainingInWorker(spec({ job_id: 'worker-stop', symbol: 'ETH/USDT', model_id: 'eth-stopped', epochs: 5000, artifacts_root: null }), syntheticCandles({ count: 450, seed: 9, symbol: 'ETH/USDT' }), {
      onProgress: (p) => {
        if (stoppedAt === 0) {
          stoppedAt = p.epoch;
          job.stop();
        }
      },
    });
    const result = await job.promise;
    expect(result.status).toBe('stopped');
    expect(result.epochs_requested).toBe(5000);
    expect(result.epochs_run).toBeLessThan(5000);
    // The worker saw the request after some epoch N >= the one whose progress triggered it
    // (progress messages can queue), and the epoch running then was cut short: epochs_run = N.
    expect(result.stop_observed_after_epochs).not.toBeNull();
    expect(result.stop_observed_after_epochs!).toBeGreaterThanOrEqual(stoppedAt);
    expect(result.epochs_run).toBe(result.stop_observed_after_epochs);
    expect(result.activated).toBe(false);
    const registry = new ModelRegistry(path.join(root, 'models'));
    expect(await registry.getActive('ETH/USDT')).toBeNull();
    expect((await registry.get('eth-stopped'))?.stopped).toBe(true);
  });

  it('a failing worker job rejects with the reason', async () => {
    const job = runTrainingInWorker(spec({ job_id: 'worker-fail', symbol: 'SOL/USDT' }), candles);
    await expect(job.promise).rejects.toThrow(/no SOL\/USDT 1m candles/);
  });

  it('registry: activation checks the model and symbol; ids cannot escape the root', async () => {
    const registry = new ModelRegistry(path.join(root, 'models'));
    await runTrainingJob(spec({ job_id: 'inline', model_id: 'btc-second', activate: false, artifacts_root: null }), candles);
    expect((await registry.getActive('BTC/USDT'))?.model_id).toBe('btc-worker-model');
    await registry.setActive('BTC/USDT', 'btc-second');
    expect(await registry.listActive()).toMatchObject({ 'BTC/USDT': { model_id: 'btc-second' }, });
    await expect(registry.setActive('BTC/USDT', 'missing')).rejects.toThrow(/not found/);
    await expect(registry.setActive('ETH/USDT', 'btc-second')).rejects.toThrow(/trained on BTC\/USDT/);
    expect(() => registry.modelDir('../etc')).toThrow(/invalid model id/);
    expect(await registry.get('nope')).toBeNull();
    expect(await new ModelRegistry(path.join(root, 'empty')).list()).toEqual([]);
    const loadedTwice = [await registry.load('btc-second'), await registry.load('btc-second')];
    expect(loadedTwice[0]).toBe(loadedTwice[1]);
  });
});
