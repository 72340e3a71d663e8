// A training job: train a model on a symbol's candles, save it in the model registry, write the
// run's artifacts, report progress, honour stop requests. runTrainingJob does the work in the
// calling thread (the worker calls it); runTrainingInWorker runs it in a worker_thread so the
// caller's event loop (the API) stays free.
//
// A stopped job still evaluates and saves what it trained (metadata.stopped = true) but never
// makes it the active model.
import { runWorker } from '../../runtime/worker.ts';
import type { Candle, SignalSide } from '../../schemas/generated/events.ts';
import { saveRunArtifacts, toCsv, type ArtifactFile } from '../backtest/artifacts.ts';
import { backtestStrategy } from '../backtest/strategy-backtest.ts';
import { ModelRegistry } from './model-registry.ts';
import { directionOf, train, type HeldOutMetrics, type ModelKind, type TrainProgress, type TrainResult } from './model.ts';
import { loadTf, type TfBackendName } from './tf-backend.ts';

/** What a train.start command carries (JSON, snake_case like the event schemas). */
export interface TrainingJobSpec {
  /** Also the artifacts run id: letters, digits, '.', '_', '-'. */
  job_id: string;
  symbol: string;
  interval: string;
  horizon: number;
  epochs: number;
  kind?: ModelKind;
  lookback?: number;
  batch_size?: number;
  learning_rate?: number;
  validation_fraction?: number;
  hidden_units?: number;
  seed?: number;
  flat_band?: number;
  /** Training window bounds (open_time, ms); the candles may cover more. */
  from?: number;
  to?: number;
  model_id?: string;
  /** Model registry root. */
  models_root: string;
  /** Artifacts root; null or absent to write none. */
  artifacts_root?: string | null;
  /** Make the model active for the symbol when the job completes. Default true. */
  activate?: boolean;
  /** Fee of the held-out strategy curve in the artifacts. Default 10. */
  fee_bps?: number;
}

export interface TrainingJobResult {
  job_id: string;
  status: 'completed' | 'stopped';
  model_id: string;
  model_dir: string;
  symbol: string;
  interval: string;
  horizon: number;
  backend: TfBackendName;
  metrics: HeldOutMetrics;
  epochs_run: number;
  epochs_requested: number;
  /** Completed epochs when the worker saw the stop request (null if none): epochs_run never exceeds it. */
  stop_observed_after_epochs: number | null;
  elapsed_ms: number;
  history: TrainProgress[];
  activated: boolean;
  artifacts: ArtifactFile[];
}

/** Worker -> caller. */
export type TrainingJobEvent =
  | { type: 'started'; job_id: string; backend: TfBackendName; candles: number }
  | { type: 'progress'; job_id: string; progress: TrainProgress }
  | { type: 'result'; job_id: string; result: TrainingJobResult }
  | { type: 'error'; job_id: string; message: string };

/** Caller -> worker. */
export type TrainingJobCommand = { type: 'stop' };

export interface TrainingWorkerData {
  spec: TrainingJobSpec;
  candles: Candle[];
  /** Int32 flag at index 0, set to 1 to stop; read even while the worker's event loop is busy. */
  stop_flag: SharedArrayBuffer;
}

export interface TrainingJobHooks {
  onStarted?: (event: { backend: TfBackendName; candles: number }) => void;
  onProgress?: (progress: TrainProgress) => void;
  shouldStop?: () => boolean;
}

export function validateTrainingSpec(spec: TrainingJobSpec): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(spec.job_id)) throw new Error(`invalid job_id ${JSON.stringify(spec.job_id)}`);
  if (!spec.symbol) throw new Error('symbol is required');
  if (!spec.interval) throw new Error('interval is required');
  if (!Number.isInteger(spec.horizon) || spec.horizon < 1) throw new Error('horizon must be an integer >= 1');
  if (!Number.isInteger(spec.epochs) || spec.epochs < 1) throw new Error('epochs must be an integer >= 1');
  if (!spec.models_root) throw new Error('models_root is required');
}

export async function runTrainingJob(spec: TrainingJobSpec, candles: readonly Candle[], hooks: TrainingJobHooks = {}): Promise<TrainingJobResult> {
  validateTrainingSpec(spec);
  const series = candles.filter((c) => c.symbol === spec.symbol && c.interval === spec.interval);
  if (series.length === 0) throw new Error(`no ${spec.symbol} ${spec.interval} candles among the ${candles.length} given`);
  const { backend } = await loadTf();
  hooks.onStarted?.({ backend, candles: series.length });
  const trained = await train(
    series,
    {
      horizon: spec.horizon,
      epochs: spec.epochs,
      kind: spec.kind,
      lookback: spec.lookback,
      batchSize: spec.batch_size,
      learningRate: spec.learning_rate,
      validationFraction: spec.validation_fraction,
      hiddenUnits: spec.hidden_units,
      seed: spec.seed,
      flatBand: spec.flat_band,
      window: { from: spec.from, to: spec.to },
      modelId: spec.model_id,
    },
    hooks.onProgress,
    hooks.shouldStop,
  );
  const registry = new ModelRegistry(spec.models_root);
  const meta = trained.model.metadata;
  const modelDir = await registry.save(trained.model);
  const activate = !trained.stopped && (spec.activate ?? true);
  if (activate) await registry.setActive(spec.symbol, meta.model_id);
  const artifacts = spec.artifacts_root ? await writeTrainingArtifacts(spec, series, trained) : [];
  trained.model.network.dispose();
  return {
    job_id: spec.job_id,
    status: trained.stopped ? 'stopped' : 'completed',
    model_id: meta.model_id,
    model_dir: modelDir,
    symbol: spec.symbol,
    interval: spec.interval,
    horizon: spec.horizon,
    backend,
    metrics: trained.metrics,
    epochs_run: trained.epochs_run,
    epochs_requested: trained.epochs_requested,
    stop_observed_after_epochs: trained.stop_observed_after_epochs,
    elapsed_ms: trained.elapsed_ms,
    history: trained.history,
    activated: activate,
    artifacts,
  };
}

/**
 * metrics.json (held-out metrics, history, metadata), loss.csv, held_out.csv, and as the equity
 * curve: a long-only strategy following the held-out predictions (fills at next open, fee_bps).
 */
async function writeTrainingArtifacts(spec: TrainingJobSpec, series: readonly Candle[], trained: TrainResult): Promise<ArtifactFile[]> {
  const meta = trained.model.metadata;
  const held = trained.held_out;
  const sideAt = new Map<number, SignalSide>();
  held.predicted.forEach((p, i) => {
    const d = directionOf(p, meta.flat_band);
    sideAt.set(held.times[i]!, d === 'UP' ? 'BUY' : d === 'DOWN' ? 'SELL' : 'HOLD');
  });
  const heldCandles = series.filter((c) => c.open_time >= meta.validation_window.from && c.open_time <= meta.validation_window.to);
  const strategy = heldCandles.length
    ? backtestStrategy(heldCandles, (c) => sideAt.get(c.open_time) ?? 'HOLD', { feeBps: spec.fee_bps ?? 10, monteCarlo: false })
    : null;
  const { normalization: _normalization, ...metadataSummary } = meta;
  return saveRunArtifacts(spec.artifacts_root!, spec.job_id, {
    kind: 'training',
    metrics: {
      job_id: spec.job_id,
      status: trained.stopped ? 'stopped' : 'completed',
      model_id: meta.model_id,
      held_out: trained.metrics,
      held_out_strategy: strategy?.metrics ?? null,
      epochs_run: trained.epochs_run,
      epochs_requested: trained.epochs_requested,
      elapsed_ms: trained.elapsed_ms,
      history: trained.history,
      model: metadataSummary,
    },
    equity: strategy?.equity ?? [],
    files: {
      'loss.csv': toCsv(['epoch', 'loss', 'val_loss', 'elapsed_ms'], trained.history.map((h) => ({ epoch: h.epoch, loss: h.loss, val_loss: h.val_loss, elapsed_ms: h.elapsed_ms }))),
      'held_out.csv': toCsv(['open_time', 'close', 'actual_return', 'predicted_return'], held.times.map((t, i) => ({ open_time: t, close: held.closes[i]!, actual_return: held.actual[i]!, predicted_return: held.predicted[i]! }))),
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Worker thread

export interface TrainingInWorker {
  /** Resolves with the result (status completed or stopped); rejects when the job fails. */
  promise: Promise<TrainingJobResult>;
  /** Ask the job to stop; it ends within the current epoch and resolves with status 'stopped'. */
  stop(): void;
  threadId: number;
}

export interface TrainingInWorkerHooks {
  onStarted?: (event: { backend: TfBackendName; candles: number }) => void;
  onProgress?: (progress: TrainProgress) => void;
}

export function runTrainingInWorker(spec: TrainingJobSpec, candles: readonly Candle[], hooks: TrainingInWorkerHooks = {}): TrainingInWorker {
  validateTrainingSpec(spec);
  const stopFlag = new SharedArrayBuffer(4);
  const data: TrainingWorkerData = { spec, candles: [...candles], stop_flag: stopFlag };
  const { worker, promise } = runWorker<TrainingJobResult, TrainingJobEvent>(new URL('./training-worker.ts', import.meta.url), data, (event, settle) => {
    if (event.type === 'started') hooks.onStarted?.({ backend: event.backend, candles: event.candles });
    else if (event.type === 'progress') hooks.onProgress?.(event.progress);
    else if (event.type === 'result') settle.resolve(event.result);
    else if (event.type === 'error') settle.reject(new Error(event.message));
  }, 'training worker');
  return {
    promise,
    stop: () => {
      Atomics.store(new Int32Array(stopFlag), 0, 1);
      worker.postMessage({ type: 'stop' } satisfies TrainingJobCommand);
    },
    threadId: worker.threadId,
  };
}
