// A small TensorFlow.js regressor of the log return `horizon` candles ahead, from a lookback
// window of feature rows: a dense MLP over the flattened window, or a one-layer LSTM.
// Training is seeded and time-ordered (the held-out set is the latest part of the window,
// separated from the training part by `horizon` samples so no training label overlaps it).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { io, LayersModel, Tensor } from '@tensorflow/tfjs';
import type { Candle, PredictedDirection, Prediction } from '../../schemas/generated/events.ts';
import { mulberry32, seededPermutation } from '../../runtime/seeded-random.ts';
import {
  buildDataset,
  computeFeatureTable,
  featureWarmup,
  fitNormalization,
  normalizeSample,
  resolveFeatureConfig,
  type Dataset,
  type FeatureConfig,
  type FeatureTable,
  type NormalizationStats,
  type OhlcvCandle,
} from './features.ts';
import { loadTf, type Tf, type TfBackendName } from './tf-backend.ts';

export type ModelKind = 'mlp' | 'lstm';

export interface TrainOptions {
  horizon: number;
  kind?: ModelKind;
  /** Feature rows per sample. Default 8. */
  lookback?: number;
  /** Default 20. */
  epochs?: number;
  /** Default 64. */
  batchSize?: number;
  /** Adam learning rate. Default 0.001. */
  learningRate?: number;
  /** Latest fraction of samples held out for validation and metrics. Default 0.2. */
  validationFraction?: number;
  /** Width of the hidden layer(s). Default 32. */
  hiddenUnits?: number;
  /** Seeds weight initialisation and the per-epoch sample order. Default 42. */
  seed?: number;
  /**
   * |predicted log return| at or below this is FLAT. Default: 0.1 x the standard deviation of
   * the training labels.
   */
  flatBand?: number;
  features?: Partial<FeatureConfig>;
  /** Train on samples made at open_time in [from, to) whose label candle is also before `to`. */
  window?: { from?: number; to?: number };
  modelId?: string;
  /** Stored in metadata.symbols when the candles mix symbols; default the candles' symbols. */
  symbols?: string[];
}

/** One progress report per completed epoch. Losses are MSE of standardized labels. */
export interface TrainProgress {
  /** 1-based number of the epoch just completed. */
  epoch: number;
  epochs: number;
  loss: number;
  val_loss: number | null;
  elapsed_ms: number;
  /** Mean epoch time so far x epochs left. */
  eta_ms: number;
}

/** Scores on the held-out (latest) samples, in raw log-return units. */
export interface HeldOutMetrics {
  samples: number;
  mae: number;
  rmse: number;
  /** Share of samples with a non-zero actual return whose predicted sign matched. */
  directional_accuracy: number;
  /** MAE of always predicting 0, for comparison. */
  mae_zero_baseline: number;
}

export interface TimeWindow {
  /** open_time of the first sample. */
  from: number;
  /** open_time of the last sample. */
  to: number;
  samples: number;
}

export interface ModelMetadata {
  format_version: 1;
  model_id: string;
  kind: ModelKind;
  symbol: string;
  symbols: string[];
  interval: string;
  horizon: number;
  lookback: number;
  features: string[];
  feature_config: FeatureConfig;
  /** Candles predict() needs at least (warm-up plus lookback). */
  min_candles: number;
  training_window: TimeWindow;
  validation_window: TimeWindow;
  backend: TfBackendName;
  normalization: NormalizationStats;
  flat_band: number;
  metrics: HeldOutMetrics;
  hyperparameters: {
    epochs_requested: number;
    epochs_run: number;
    batch_size: number;
    learning_rate: number;
    hidden_units: number;
    validation_fraction: number;
    seed: number;
  };
  stopped: boolean;
  created_at: string;
}

export interface TrainedModel {
  network: LayersModel;
  metadata: ModelMetadata;
}

export interface HeldOutPredictions {
  times: number[];
  closes: number[];
  actual: number[];
  predicted: number[];
}

export interface TrainResult {
  model: TrainedModel;
  metrics: HeldOutMetrics;
  /** True when shouldStop() ended training before the requested epochs. */
  stopped: boolean;
  /** Completed epochs when shouldStop() first returned true (null if it never did). */
  stop_observed_after_epochs: number | null;
  epochs_run: number;
  epochs_requested: number;
  elapsed_ms: number;
  history: TrainProgress[];
  held_out: HeldOutPredictions;
}

export interface PredictionResult {
  predicted_return: number;
  direction: PredictedDirection;
  /** Estimated probability (0..1) that `direction` is right; see directionConfidence. */
  confidence: number;
  /** Close of the latest candle, the price the prediction is made from. */
  price: number;
  /** open_time of that candle. */
  as_of: number;
}

const MIN_TRAIN_SAMPLES = 16;

export async function train(
  candles: readonly Candle[],
  options: TrainOptions,
  onEpoch?: (progress: TrainProgress) => void,
  shouldStop?: () => boolean,
): Promise<TrainResult> {
  const { tf, backend } = await loadTf();
  const started = Date.now();
  const kind = options.kind ?? 'mlp';
  const lookback = options.lookback ?? 8;
  const epochs = options.epochs ?? 20;
  const batchSize = options.batchSize ?? 64;
  const learningRate = options.learningRate ?? 1e-3;
  const validationFraction = options.validationFraction ?? 0.2;
  const hiddenUnits = options.hiddenUnits ?? 32;
  const seed = options.seed ?? 42;
  const horizon = options.horizon;
  if (!Number.isInteger(epochs) || epochs < 1) throw new Error(`epochs must be an integer >= 1, got ${epochs}`);
  if (!(validationFraction > 0 && validationFraction < 0.9)) throw new Error('validationFraction must be in (0, 0.9)');
  const first = candles[0];
  if (!first) throw new Error('no candles to train on');
  const interval = first.interval;
  if (candles.some((c) => c.interval !== interval)) throw new Error('candles mix intervals');
  const symbols = options.symbols ?? [...new Set(candles.map((c) => c.symbol))];
  if (symbols.length > 1 && !options.symbols) throw new Error('candles mix symbols; pass one symbol\'s series');

  const featureConfig = resolveFeatureConfig(options.features);
  const table = computeFeatureTable(candles, featureConfig);
  const dataset = buildDataset(table, { horizon, lookback, from: options.window?.from, to: options.window?.to, requireLabel: true });
  const valCount = Math.max(1, Math.floor(dataset.X.length * validationFraction));
  // Purge: a training sample's label spans `horizon` candles, so the last `horizon` samples
  // before the held-out part would see returns inside it.
  const trainCount = dataset.X.length - valCount - horizon;
  if (trainCount < MIN_TRAIN_SAMPLES) {
    throw new Error(`not enough candles: ${dataset.X.length} labelled samples after warm-up (${featureWarmup(featureConfig)} candles) and lookback ${lookback}; need at least ${MIN_TRAIN_SAMPLES + valCount + horizon}`);
  }
  const trainPart = slice(dataset, 0, trainCount);
  const valPart = slice(dataset, dataset.X.length - valCount, dataset.X.length);
  const normalization = fitNormalization(trainPart);

  const network = buildNetwork(tf, kind, lookback, dataset.featureNames.length, hiddenUnits, seed);
  network.compile({ optimizer: tf.train.adam(learningRate), loss: 'meanSquaredError' });

  const xTrain = toInputTensor(tf, kind, trainPart.X, normalization);
  const yTrain = tf.tensor2d(trainPart.y.map((v) => [(v - normalization.label_mean) / normalization.label_std]));
  const xVal = toInputTensor(tf, kind, valPart.X, normalization);
  const yVal = tf.tensor2d(valPart.y.map((v) => [(v - normalization.label_mean) / normalization.label_std]));

  const random = mulberry32(seed);
  const history: TrainProgress[] = [];
  let stopped = false;
  let stopObservedAfter: number | null = null;
  const stopRequested = (): boolean => {
    if (stopObservedAfter === null && shouldStop?.()) stopObservedAfter = history.length;
    return stopObservedAfter !== null;
  };
  const trainStart = Date.now();
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      // Let queued messages (a worker's stop request) run between epochs.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (stopRequested()) {
        stopped = true;
        break;
      }
      const order = tf.tensor1d(seededPermutation(trainCount, random), 'int32');
      const xs = tf.gather(xTrain, order);
      const ys = tf.gather(yTrain, order);
      order.dispose();
      let stoppedInEpoch = false;
      try {
        const fitted = await network.fit(xs, ys, {
          epochs: 1,
          batchSize,
          shuffle: false,
          validationData: [xVal, yVal],
          verbose: 0,
          callbacks: {
            onBatchEnd: async () => {
              if (stopRequested()) {
                stoppedInEpoch = true;
                network.stopTraining = true;
              }
            },
          },
        });
        if (stoppedInEpoch) {
          stopped = true;
          break;
        }
        const elapsed = Date.now() - trainStart;
        const done = epoch + 1;
        const progress: TrainProgress = {
          epoch: done,
          epochs,
          loss: lastNumber(fitted.history['loss']),
          val_loss: optionalNumber(fitted.history['val_loss']),
          elapsed_ms: elapsed,
          eta_ms: Math.round((elapsed / done) * (epochs - done)),
        };
        history.push(progress);
        onEpoch?.(progress);
      } finally {
        xs.dispose();
        ys.dispose();
      }
    }
    if (!stopped && history.length < epochs) stopped = true;

    const predicted = predictNormalized(tf, network, xVal, normalization);
    const metrics = scorePredictions(valPart.y, predicted);
    const metadata: ModelMetadata = {
      format_version: 1,
      model_id: options.modelId ?? newModelId(symbols[0] ?? 'unknown', interval, horizon),
      kind,
      symbol: symbols[0] ?? 'unknown',
      symbols,
      interval,
      horizon,
      lookback,
      features: dataset.featureNames,
      feature_config: featureConfig,
      min_candles: featureWarmup(featureConfig) + lookback,
      training_window: windowOf(trainPart),
      validation_window: windowOf(valPart),
      backend,
      normalization,
      flat_band: options.flatBand ?? 0.1 * normalization.label_std,
      metrics,
      hyperparameters: {
        epochs_requested: epochs,
        epochs_run: history.length,
        batch_size: batchSize,
        learning_rate: learningRate,
        hidden_units: hiddenUnits,
        validation_fraction: validationFraction,
        seed,
      },
      stopped,
      created_at: new Date().toISOString(),
    };
    return {
      model: { network, metadata },
      metrics,
      stopped,
      stop_observed_after_epochs: stopObservedAfter,
      epochs_run: history.length,
      epochs_requested: epochs,
      elapsed_ms: Date.now() - started,
      history,
      held_out: { times: valPart.times, closes: valPart.closes, actual: valPart.y, predicted },
    };
  } finally {
    xTrain.dispose();
    yTrain.dispose();
    xVal.dispose();
    yVal.dispose();
  }
}

function buildNetwork(tf: Tf, kind: ModelKind, lookback: number, width: number, units: number, seed: number): LayersModel {
  const model = tf.sequential();
  if (kind === 'lstm') {
    model.add(
      tf.layers.lstm({
        units,
        inputShape: [lookback, width],
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
        recurrentInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
      }),
    );
  } else {
    model.add(
      tf.layers.dense({ units, activation: 'relu', inputShape: [lookback * width], kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
    );
    model.add(
      tf.layers.dense({ units: Math.max(4, Math.floor(units / 2)), activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    );
  }
  model.add(tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }) }));
  return model;
}

function toInputTensor(tf: Tf, kind: ModelKind, samples: readonly number[][][], stats: NormalizationStats): Tensor {
  const scaled = samples.map((s) => normalizeSample(s, stats));
  if (kind === 'lstm') return tf.tensor3d(scaled);
  return tf.tensor2d(scaled.map((s) => s.flat()));
}

function predictNormalized(tf: Tf, network: LayersModel, x: Tensor, stats: NormalizationStats): number[] {
  return tf.tidy(() => {
    const out = network.predict(x);
    const tensor = Array.isArray(out) ? out[0]! : out;
    return Array.from(tensor.dataSync(), (v) => v * stats.label_std + stats.label_mean);
  });
}

function slice(dataset: Dataset, start: number, end: number): Dataset {
  return {
    ...dataset,
    X: dataset.X.slice(start, end),
    y: dataset.y.slice(start, end),
    times: dataset.times.slice(start, end),
    closes: dataset.closes.slice(start, end),
    indices: dataset.indices.slice(start, end),
  };
}

function windowOf(part: Dataset): TimeWindow {
  return { from: part.times[0] ?? 0, to: part.times[part.times.length - 1] ?? 0, samples: part.times.length };
}

function lastNumber(values: ReadonlyArray<number | Tensor> | undefined): number {
  const v = optionalNumber(values);
  return v ?? Number.NaN;
}

function optionalNumber(values: ReadonlyArray<number | Tensor> | undefined): number | null {
  const last = values?.[values.length - 1];
  if (last === undefined) return null;
  return typeof last === 'number' ? last : last.dataSync()[0] ?? null;
}

/** MAE, RMSE and directional accuracy of predictions against actual log returns (NaN actuals skipped). */
export function scorePredictions(actual: readonly number[], predicted: readonly number[]): HeldOutMetrics {
  let n = 0;
  let abs = 0;
  let sq = 0;
  let zero = 0;
  let directional = 0;
  let hits = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const p = predicted[i]!;
    if (!Number.isFinite(a) || !Number.isFinite(p)) continue;
    n++;
    abs += Math.abs(p - a);
    sq += (p - a) ** 2;
    zero += Math.abs(a);
    if (a !== 0) {
      directional++;
      if (Math.sign(p) === Math.sign(a)) hits++;
    }
  }
  return {
    samples: n,
    mae: n ? abs / n : Number.NaN,
    rmse: n ? Math.sqrt(sq / n) : Number.NaN,
    directional_accuracy: directional ? hits / directional : Number.NaN,
    mae_zero_baseline: n ? zero / n : Number.NaN,
  };
}

/** <symbol>_<interval>_h<horizon>_<utc yyyymmddThhmmss>_<4 hex>: file-system safe and sortable. */
export function newModelId(symbol: string, interval: string, horizon: number, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const suffix = Math.floor(Math.random() * 0x10000).toString(16).padStart(4, '0');
  return `${symbol.replace(/[^A-Za-z0-9]+/g, '-')}_${interval}_h${horizon}_${stamp}_${suffix}`;
}

// ---------------------------------------------------------------------------------------------
// Prediction

function erf(x: number): number {
  // Abramowitz & Stegun 7.1.26, |error| < 1.5e-7: plenty for a confidence figure.
  const sign = x < 0 ? -1 : 1;
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return sign * y;
}

function normalCdf(z: number): number {
  return 0.5 * (1 + erf(z / Math.SQRT2));
}

export function directionOf(predictedReturn: number, flatBand: number): PredictedDirection {
  if (predictedReturn > flatBand) return 'UP';
  if (predictedReturn < -flatBand) return 'DOWN';
  return 'FLAT';
}

/**
 * Confidence = the model's own probability that the stated direction is right, taking the
 * realized return as Normal(predicted, sigma) with sigma = the held-out RMSE:
 *   UP:   P(r > +band) = 1 - Phi((band - p) / sigma)
 *   DOWN: P(r < -band) = Phi((-band - p) / sigma)
 *   FLAT: P(|r| <= band) = Phi((band - p) / sigma) - Phi((-band - p) / sigma)
 * So a prediction barely outside the band scores near 0.5 or below, and one many held-out
 * errors away from zero scores near 1.
 */
export function directionConfidence(predictedReturn: number, direction: PredictedDirection, flatBand: number, sigma: number): number {
  const s = Number.isFinite(sigma) && sigma > 0 ? sigma : 1e-9;
  const above = 1 - normalCdf((flatBand - predictedReturn) / s);
  const below = normalCdf((-flatBand - predictedReturn) / s);
  const p = direction === 'UP' ? above : direction === 'DOWN' ? below : 1 - above - below;
  return Math.min(1, Math.max(0, p));
}

/** Predictions for every table row with a full lookback, optionally only rows with open_time >= from. */
export async function predictTable(model: TrainedModel, table: FeatureTable, from?: number): Promise<{ times: number[]; closes: number[]; indices: number[]; results: PredictionResult[] }> {
  const { tf } = await loadTf();
  const meta = model.metadata;
  const dataset = buildDataset(table, { horizon: meta.horizon, lookback: meta.lookback, from, requireLabel: false });
  if (dataset.X.length === 0) return { times: [], closes: [], indices: [], results: [] };
  const x = toInputTensor(tf, meta.kind, dataset.X, meta.normalization);
  let predicted: number[];
  try {
    predicted = predictNormalized(tf, model.network, x, meta.normalization);
  } finally {
    x.dispose();
  }
  const results = predicted.map((p, i) => toResult(meta, p, dataset.closes[i]!, dataset.times[i]!));
  return { times: dataset.times, closes: dataset.closes, indices: dataset.indices, results };
}

/** Predictions for every candle (with enough history) of a series. */
export async function predictSeries(model: TrainedModel, candles: readonly OhlcvCandle[], from?: number): Promise<{ times: number[]; results: PredictionResult[] }> {
  const { times, results } = await predictTable(model, computeFeatureTable(candles, model.metadata.feature_config), from);
  return { times, results };
}

/**
 * The prediction made at the close of the latest candle. Pass at least metadata.min_candles
 * candles, in time order; more history (a few hundred) lets RSI/MACD settle like in training.
 */
export async function predict(model: TrainedModel, recentCandles: readonly OhlcvCandle[]): Promise<PredictionResult> {
  const meta = model.metadata;
  if (recentCandles.length < meta.min_candles) {
    throw new Error(`predict needs at least ${meta.min_candles} candles, got ${recentCandles.length}`);
  }
  const last = recentCandles[recentCandles.length - 1]!;
  const { results } = await predictSeries(model, recentCandles, last.open_time);
  const result = results[results.length - 1];
  if (!result) throw new Error('the latest candle has no complete feature window');
  return result;
}

function toResult(meta: ModelMetadata, predictedReturn: number, price: number, asOf: number): PredictionResult {
  const direction = directionOf(predictedReturn, meta.flat_band);
  return {
    predicted_return: predictedReturn,
    direction,
    confidence: directionConfidence(predictedReturn, direction, meta.flat_band, meta.metrics.rmse),
    price,
    as_of: asOf,
  };
}

/** The Prediction event fields a publisher adds its envelope (ids and times) to. */
export type PredictionFields = Omit<Prediction, 'event_id' | 'event_type' | 'schema_version' | 'event_time' | 'ingest_time'>;

export function toPredictionFields(metadata: ModelMetadata, result: PredictionResult): PredictionFields {
  return {
    symbol: metadata.symbol,
    interval: metadata.interval,
    horizon: metadata.horizon,
    model_id: metadata.model_id,
    predicted_return: result.predicted_return,
    direction: result.direction,
    confidence: result.confidence,
    price: result.price,
    backend: metadata.backend,
  };
}

// ---------------------------------------------------------------------------------------------
// Persistence: tfjs's file:// handler needs tfjs-node, so model.json + weights.bin are written
// here in the same layout tfjs's own handlers use.

interface ModelJsonFile {
  format: 'layers-model';
  generatedBy: string;
  convertedBy: null;
  modelTopology: object;
  weightsManifest: io.WeightsManifestConfig;
}

export const MODEL_FILES = { topology: 'model.json', weights: 'weights.bin', metadata: 'metadata.json' } as const;

export async function saveModel(model: TrainedModel, dir: string): Promise<void> {
  const { tf } = await loadTf();
  await mkdir(dir, { recursive: true });
  await model.network.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const json: ModelJsonFile = {
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
        convertedBy: null,
        modelTopology: artifacts.modelTopology ?? {},
        weightsManifest: [{ paths: [MODEL_FILES.weights], weights: artifacts.weightSpecs ?? [] }],
      };
      await writeFile(path.join(dir, MODEL_FILES.weights), Buffer.from(weights));
      await writeFile(path.join(dir, MODEL_FILES.topology), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
    }),
  );
  // metadata.json last, via rename: a folder with metadata.json is a complete model.
  const tmp = path.join(dir, `${MODEL_FILES.metadata}.tmp`);
  await writeFile(tmp, JSON.stringify(model.metadata, null, 2));
  await rename(tmp, path.join(dir, MODEL_FILES.metadata));
}

export async function readModelMetadata(dir: string): Promise<ModelMetadata> {
  return JSON.parse(await readFile(path.join(dir, MODEL_FILES.metadata), 'utf8')) as ModelMetadata;
}

export async function loadModel(dir: string): Promise<TrainedModel> {
  const { tf } = await loadTf();
  const metadata = await readModelMetadata(dir);
  const json = JSON.parse(await readFile(path.join(dir, MODEL_FILES.topology), 'utf8')) as ModelJsonFile;
  const weights = await readFile(path.join(dir, MODEL_FILES.weights));
  const weightData = new Uint8Array(weights).buffer;
  const network = await tf.loadLayersModel({
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((group) => group.weights),
      weightData,
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy,
    }),
  });
  return { network, metadata };
}
