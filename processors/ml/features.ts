// Model features from candles. Every value of row i is computed from candles 0..i only, by a
// streaming builder (the same code serves training, walk-forward and live prediction), so a
// candle that arrives later can never change an earlier row. Nothing here normalizes over a
// series: normalization statistics are fitted on a training window (fitNormalization) and
// saved with the model.
import { MACD, RSI } from 'technicalindicators';
import type { Candle } from '../../schemas/generated/events.ts';

/** The candle fields features read; a full Candle satisfies it. */
export type OhlcvCandle = Pick<Candle, 'open_time' | 'open' | 'high' | 'low' | 'close' | 'volume'>;

export interface FeatureConfig {
  /** Long log-return (momentum) window, in candles. */
  momentumWindow: number;
  /** Rolling standard deviation of 1-candle log returns. */
  volatilityWindow: number;
  rsiPeriod: number;
  macdFast: number;
  macdSlow: number;
  macdSignal: number;
  /** Rolling window of the volume z-score. */
  volumeWindow: number;
  /** Simple moving average the close is compared with. */
  smaWindow: number;
}

export const DEFAULT_FEATURE_CONFIG: Readonly<FeatureConfig> = Object.freeze({
  momentumWindow: 5,
  volatilityWindow: 20,
  rsiPeriod: 14,
  macdFast: 12,
  macdSlow: 26,
  macdSignal: 9,
  volumeWindow: 20,
  smaWindow: 20,
});

export function resolveFeatureConfig(partial: Partial<FeatureConfig> = {}): FeatureConfig {
  const config = { ...DEFAULT_FEATURE_CONFIG, ...partial };
  for (const [key, value] of Object.entries(config)) {
    if (!Number.isInteger(value) || value < 2) throw new Error(`feature config ${key} must be an integer >= 2, got ${value}`);
  }
  if (config.macdFast >= config.macdSlow) throw new Error('feature config macdFast must be below macdSlow');
  return config;
}

/** Column names, in the order of every feature row. */
export function featureNames(config: FeatureConfig): string[] {
  return [
    'log_return_1',
    `log_return_${config.momentumWindow}`,
    `volatility_${config.volatilityWindow}`,
    `rsi_${config.rsiPeriod}`,
    `macd_hist_${config.macdFast}_${config.macdSlow}_${config.macdSignal}`,
    `volume_z_${config.volumeWindow}`,
    'high_low_range',
    `close_sma_${config.smaWindow}_ratio`,
  ];
}

/** Fixed-size window of the latest values. */
class RollingWindow {
  private readonly values: number[] = [];
  constructor(private readonly size: number) {}
  push(value: number): void {
    this.values.push(value);
    if (this.values.length > this.size) this.values.shift();
  }
  get full(): boolean {
    return this.values.length === this.size;
  }
  get oldest(): number {
    return this.values[0]!;
  }
  mean(): number {
    let sum = 0;
    for (const v of this.values) sum += v;
    return sum / this.values.length;
  }
  /** Population standard deviation. */
  std(): number {
    const m = this.mean();
    let sum = 0;
    for (const v of this.values) sum += (v - m) ** 2;
    return Math.sqrt(sum / this.values.length);
  }
}

/**
 * Streaming feature state machine: feed candles in time order, get a feature row per candle
 * (null while the indicators warm up). Rows are scale-free (returns, ratios, z-scores) so one
 * model can see prices far from those it was trained on.
 */
export class FeatureBuilder {
  readonly config: FeatureConfig;
  readonly names: string[];
  private readonly rsi: RSI;
  private readonly macd: MACD;
  private readonly closes: RollingWindow;
  private readonly returns: RollingWindow;
  private readonly volumes: RollingWindow;
  private readonly smaCloses: RollingWindow;
  private previousClose: number | undefined;
  private previousTime: number | undefined;

  constructor(config: Partial<FeatureConfig> = {}) {
    this.config = resolveFeatureConfig(config);
    this.names = featureNames(this.config);
    this.rsi = new RSI({ period: this.config.rsiPeriod, values: [] });
    this.macd = new MACD({
      fastPeriod: this.config.macdFast,
      slowPeriod: this.config.macdSlow,
      signalPeriod: this.config.macdSignal,
      SimpleMAOscillator: false,
      SimpleMASignal: false,
      values: [],
    });
    this.closes = new RollingWindow(this.config.momentumWindow + 1);
    this.returns = new RollingWindow(this.config.volatilityWindow);
    this.volumes = new RollingWindow(this.config.volumeWindow);
    this.smaCloses = new RollingWindow(this.config.smaWindow);
  }

  next(candle: OhlcvCandle): number[] | null {
    if (this.previousTime !== undefined && candle.open_time <= this.previousTime) {
      throw new Error(`candles must be in strictly increasing open_time order (${candle.open_time} after ${this.previousTime})`);
    }
    if (!(candle.close > 0) || !(candle.high > 0) || !(candle.low > 0)) {
      throw new Error(`candle at ${candle.open_time} has a non-positive price`);
    }
    this.previousTime = candle.open_time;
    const close = candle.close;
    const rsi = this.rsi.nextValue(close);
    const macd = this.macd.nextValue(close);
    this.closes.push(close);
    this.volumes.push(candle.volume);
    this.smaCloses.push(close);
    const prev = this.previousClose;
    this.previousClose = close;
    if (prev === undefined) return null;
    const logReturn = Math.log(close / prev);
    this.returns.push(logReturn);

    const histogram = macd?.histogram;
    if (rsi === undefined || histogram === undefined || !this.closes.full || !this.returns.full || !this.volumes.full || !this.smaCloses.full) {
      return null;
    }
    const volumeStd = this.volumes.std();
    return [
      logReturn,
      Math.log(close / this.closes.oldest),
      this.returns.std(),
      (rsi - 50) / 50,
      histogram / close,
      volumeStd > 0 ? (candle.volume - this.volumes.mean()) / volumeStd : 0,
      Math.log(candle.high / candle.low),
      close / this.smaCloses.mean() - 1,
    ];
  }
}

/** Feature rows aligned with the candles they came from. */
export interface FeatureTable {
  names: string[];
  config: FeatureConfig;
  /** rows[i] is known at the close of candle i; null during warm-up. */
  rows: Array<number[] | null>;
  /** open_time of each candle. */
  times: number[];
  closes: number[];
}

export function computeFeatureTable(candles: readonly OhlcvCandle[], config: Partial<FeatureConfig> = {}): FeatureTable {
  const builder = new FeatureBuilder(config);
  const rows = candles.map((c) => builder.next(c));
  return {
    names: builder.names,
    config: builder.config,
    rows,
    times: candles.map((c) => c.open_time),
    closes: candles.map((c) => c.close),
  };
}

/** Candles a builder consumes before its first row (the row at this index is the first non-null). */
export function featureWarmup(config: Partial<FeatureConfig> = {}): number {
  const c = resolveFeatureConfig(config);
  return Math.max(c.macdSlow + c.macdSignal - 2, c.rsiPeriod, c.volatilityWindow, c.momentumWindow, c.volumeWindow - 1, c.smaWindow - 1);
}

export interface DatasetWindow {
  /** Candles ahead the label looks: y = ln(close[i + horizon] / close[i]). */
  horizon: number;
  /** Feature rows per sample (rows i - lookback + 1 .. i). */
  lookback: number;
  /** Include rows with open_time >= from. */
  from?: number;
  /** Include rows with open_time < to; with requireLabel, the label candle must also be before `to`. */
  to?: number;
  /**
   * true (default): only rows whose label is known inside the window, for training.
   * false: every row with a full lookback; y is NaN where the label candle does not exist
   * (for prediction; a label from after `to` is only ever used to score a prediction).
   */
  requireLabel?: boolean;
}

export interface Dataset {
  /** samples x lookback x features, oldest row first. */
  X: number[][][];
  /** Log return over the horizon (NaN when unknown and requireLabel is false). */
  y: number[];
  /** open_time of the candle each sample is made at (its last feature row). */
  times: number[];
  /** Close of that candle. */
  closes: number[];
  /** Index of that candle in the table. */
  indices: number[];
  featureNames: string[];
  horizon: number;
  lookback: number;
}

export function buildDataset(table: FeatureTable, window: DatasetWindow): Dataset {
  const { horizon, lookback } = window;
  if (!Number.isInteger(horizon) || horizon < 1) throw new Error(`horizon must be an integer >= 1, got ${horizon}`);
  if (!Number.isInteger(lookback) || lookback < 1) throw new Error(`lookback must be an integer >= 1, got ${lookback}`);
  const requireLabel = window.requireLabel ?? true;
  const from = window.from ?? -Infinity;
  const to = window.to ?? Infinity;
  const n = table.rows.length;
  const out: Dataset = { X: [], y: [], times: [], closes: [], indices: [], featureNames: table.names, horizon, lookback };
  for (let i = lookback - 1; i < n; i++) {
    const time = table.times[i]!;
    if (time < from || time >= to) continue;
    const labelIndex = i + horizon;
    const labelKnown = labelIndex < n && table.times[labelIndex]! < to;
    if (requireLabel && !labelKnown) continue;
    const sample: number[][] = [];
    for (let k = i - lookback + 1; k <= i; k++) {
      const row = table.rows[k];
      if (!row) break;
      sample.push(row);
    }
    if (sample.length !== lookback) continue;
    out.X.push(sample);
    out.y.push(labelIndex < n ? Math.log(table.closes[labelIndex]! / table.closes[i]!) : Number.NaN);
    out.times.push(time);
    out.closes.push(table.closes[i]!);
    out.indices.push(i);
  }
  return out;
}

/** Features from candles, then a dataset: the (X, y, times) of a window. */
export function buildDatasetFromCandles(candles: readonly OhlcvCandle[], window: DatasetWindow, config: Partial<FeatureConfig> = {}): Dataset {
  return buildDataset(computeFeatureTable(candles, config), window);
}

export interface NormalizationStats {
  feature_names: string[];
  feature_mean: number[];
  feature_std: number[];
  label_mean: number;
  label_std: number;
}

/**
 * Per-feature mean/std over the samples' latest rows, and label mean/std: fit on the training
 * samples only, saved with the model, reused unchanged at prediction time.
 */
export function fitNormalization(dataset: Pick<Dataset, 'X' | 'y' | 'featureNames'>): NormalizationStats {
  const count = dataset.X.length;
  if (count === 0) throw new Error('cannot fit normalization on an empty dataset');
  const width = dataset.featureNames.length;
  const mean = new Array<number>(width).fill(0);
  const sq = new Array<number>(width).fill(0);
  for (const sample of dataset.X) {
    const row = sample[sample.length - 1]!;
    for (let f = 0; f < width; f++) mean[f]! += row[f]!;
  }
  for (let f = 0; f < width; f++) mean[f] = mean[f]! / count;
  for (const sample of dataset.X) {
    const row = sample[sample.length - 1]!;
    for (let f = 0; f < width; f++) sq[f]! += (row[f]! - mean[f]!) ** 2;
  }
  const std = sq.map((s) => guardStd(Math.sqrt(s / count)));
  const labelMean = dataset.y.reduce((a, b) => a + b, 0) / dataset.y.length;
  const labelStd = guardStd(Math.sqrt(dataset.y.reduce((a, b) => a + (b - labelMean) ** 2, 0) / dataset.y.length));
  return { feature_names: [...dataset.featureNames], feature_mean: mean, feature_std: std, label_mean: labelMean, label_std: labelStd };
}

function guardStd(std: number): number {
  return Number.isFinite(std) && std > 1e-12 ? std : 1;
}

/** A sample scaled with saved statistics (a new array; the input is not touched). */
export function normalizeSample(sample: readonly (readonly number[])[], stats: NormalizationStats): number[][] {
  return sample.map((row) => row.map((v, f) => (v - stats.feature_mean[f]!) / stats.feature_std[f]!));
}
