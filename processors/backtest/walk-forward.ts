// Walk-forward evaluation of the return model.
//
// Windows: test windows of `testSize` candles start at candle `trainSize` and advance by
// `step` (default testSize) while a full test window fits. For a test window starting at
// candle s, a fresh model is trained on candles before s only (the last trainSize of them, or
// all of them when anchored), with labels that end before s; predictions for the test window
// are made from candles up to each prediction's own candle. Nothing at or after s reaches the
// model or its normalization statistics.
//
// Strategy: the prediction at each candle's close becomes a signal, UP -> BUY, DOWN -> SELL,
// FLAT -> HOLD, run through backtestStrategy (fills at the next open, fees and slippage per
// side; long_only: SELL goes flat; long_short: SELL goes short). Each window is backtested on
// its own (flat at start, closed at its end); `overall` runs the same over every test candle
// in order, with the latest window's prediction where windows overlap.
import type { Candle, PredictedDirection, SignalSide } from '../../schemas/generated/events.ts';
import { computeFeatureTable } from '../ml/features.ts';
import { predictTable, scorePredictions, train, type HeldOutMetrics, type TrainOptions, type TrainProgress } from '../ml/model.ts';
import { backtestStrategy, type BacktestMode, type BacktestResult, type EquityPoint } from './strategy-backtest.ts';

export interface WalkForwardOptions {
  /** Candles in each training window (features warm up inside it). */
  trainSize: number;
  testSize: number;
  /** Candles between test-window starts. Default testSize. */
  step?: number;
  /** Train on all candles before the test window instead of the last trainSize. */
  anchored?: boolean;
  /** Model settings for every window (the window and model id are set per window). */
  model: Omit<TrainOptions, 'window' | 'modelId'>;
  /** Default 10. */
  feeBps?: number;
  slippageBps?: number;
  /** Default long_only. */
  mode?: BacktestMode;
  onProgress?: (progress: WalkForwardProgress) => void;
  /** Checked between windows and inside training; true ends the run with the windows done so far. */
  shouldStop?: () => boolean;
}

export interface WalkForwardProgress {
  /** 1-based window being processed. */
  window: number;
  windows: number;
  phase: 'training' | 'testing' | 'done';
  /** Set while training. */
  epoch: TrainProgress | null;
  /** 0..1 over the whole run. */
  fraction: number;
  elapsed_ms: number;
  eta_ms: number;
}

export interface StrategySummary {
  total_return: number;
  sharpe: number;
  max_drawdown: number;
  trades: number;
  exposure: number;
  buy_and_hold_return: number;
}

export interface WalkForwardWindow {
  index: number;
  train: { from: number; to: number; candles: number };
  test: { from: number; to: number; candles: number };
  model_id: string;
  epochs_run: number;
  /** Scores of the test-window predictions whose realized return is known. */
  prediction: HeldOutMetrics;
  strategy: StrategySummary;
}

export interface WalkForwardPrediction {
  /** open_time of the candle the prediction was made at (its close). */
  time: number;
  window: number;
  predicted_return: number;
  direction: PredictedDirection;
  confidence: number;
  /** Realized log return over the horizon, null when the series ends first. */
  actual_return: number | null;
}

export interface WalkForwardReport {
  windows: WalkForwardWindow[];
  overall: { prediction: HeldOutMetrics; strategy: StrategySummary };
  equity: EquityPoint[];
  predictions: WalkForwardPrediction[];
  stopped: boolean;
  config: {
    train_size: number;
    test_size: number;
    step: number;
    anchored: boolean;
    horizon: number;
    fee_bps: number;
    slippage_bps: number;
    mode: BacktestMode;
    interval: string;
    symbol: string;
  };
}

interface WindowPlan {
  trainStart: number;
  testStart: number;
  testEnd: number;
}

export function planWindows(total: number, trainSize: number, testSize: number, step: number, anchored: boolean): WindowPlan[] {
  if (!(trainSize >= 1 && testSize >= 1 && step >= 1)) throw new Error('trainSize, testSize and step must be >= 1');
  const plans: WindowPlan[] = [];
  for (let s = trainSize; s + testSize <= total; s += step) {
    plans.push({ trainStart: anchored ? 0 : s - trainSize, testStart: s, testEnd: s + testSize });
  }
  return plans;
}

function summarize(result: BacktestResult): StrategySummary {
  const m = result.metrics;
  return { total_return: m.total_return, sharpe: m.sharpe, max_drawdown: m.max_drawdown, trades: m.trades, exposure: m.exposure, buy_and_hold_return: m.buy_and_hold_return };
}

const SIDE_OF: Record<PredictedDirection, SignalSide> = { UP: 'BUY', DOWN: 'SELL', FLAT: 'HOLD' };

export async function walkForward(candles: readonly Candle[], options: WalkForwardOptions): Promise<WalkForwardReport> {
  const first = candles[0];
  if (!first) throw new Error('no candles for walk-forward');
  const step = options.step ?? options.testSize;
  const anchored = options.anchored ?? false;
  const feeBps = options.feeBps ?? 10;
  const slippageBps = options.slippageBps ?? 0;
  const mode = options.mode ?? 'long_only';
  const horizon = options.model.horizon;
  const plans = planWindows(candles.length, options.trainSize, options.testSize, step, anchored);
  if (plans.length === 0) throw new Error(`not enough candles (${candles.length}) for one window of ${options.trainSize} + ${options.testSize}`);
  const started = Date.now();
  const report = (window: number, phase: WalkForwardProgress['phase'], epoch: TrainProgress | null, fraction: number): void => {
    const elapsed = Date.now() - started;
    options.onProgress?.({ window, windows: plans.length, phase, epoch, fraction, elapsed_ms: elapsed, eta_ms: fraction > 0 ? Math.round((elapsed / fraction) * (1 - fraction)) : 0 });
  };

  const windows: WalkForwardWindow[] = [];
  const predictions: WalkForwardPrediction[] = [];
  const byTime = new Map<number, WalkForwardPrediction>();
  let stopped = false;

  for (let w = 0; w < plans.length; w++) {
    if (options.shouldStop?.()) {
      stopped = true;
      break;
    }
    const plan = plans[w]!;
    const history = candles.slice(0, plan.testStart);
    report(w + 1, 'training', null, w / plans.length);
    const trained = await train(
      history,
      { ...options.model, window: { from: candles[plan.trainStart]!.open_time }, modelId: `walk-forward-w${w + 1}` },
      (p) => report(w + 1, 'training', p, (w + (p.epoch / p.epochs) * 0.9) / plans.length),
      options.shouldStop,
    );
    if (trained.stopped && options.shouldStop?.()) {
      trained.model.network.dispose();
      stopped = true;
      break;
    }
    report(w + 1, 'testing', null, (w + 0.9) / plans.length);

    // Candles up to the end of the test window only; each row still sees only its own past.
    const visible = candles.slice(0, plan.testEnd);
    const table = computeFeatureTable(visible, trained.model.metadata.feature_config);
    const predicted = await predictTable(trained.model, table, candles[plan.testStart]!.open_time);
    trained.model.network.dispose();
    const windowPredictions = predicted.results.map((r, k): WalkForwardPrediction => {
      const index = predicted.indices[k]!;
      const future = candles[index + horizon];
      return {
        time: predicted.times[k]!,
        window: w + 1,
        predicted_return: r.predicted_return,
        direction: r.direction,
        confidence: r.confidence,
        actual_return: future ? Math.log(future.close / candles[index]!.close) : null,
      };
    });
    for (const p of windowPredictions) {
      predictions.push(p);
      byTime.set(p.time, p);
    }
    const testCandles = candles.slice(plan.testStart, plan.testEnd);
    const sideAt = new Map(windowPredictions.map((p) => [p.time, SIDE_OF[p.direction]]));
    const backtest = backtestStrategy(testCandles, (c) => sideAt.get(c.open_time) ?? 'HOLD', { feeBps, slippageBps, mode, monteCarlo: false });
    windows.push({
      index: w + 1,
      train: { from: candles[plan.trainStart]!.open_time, to: candles[plan.testStart - 1]!.open_time, candles: plan.testStart - plan.trainStart },
      test: { from: testCandles[0]!.open_time, to: testCandles[testCandles.length - 1]!.open_time, candles: testCandles.length },
      model_id: trained.model.metadata.model_id,
      epochs_run: trained.epochs_run,
      prediction: score(windowPredictions),
      strategy: summarize(backtest),
    });
    report(w + 1, 'done', null, (w + 1) / plans.length);
  }

  const done = plans.slice(0, windows.length);
  let equity: EquityPoint[] = [];
  let overallStrategy: StrategySummary = { total_return: 0, sharpe: 0, max_drawdown: 0, trades: 0, exposure: 0, buy_and_hold_return: 0 };
  if (done.length > 0) {
    const overallCandles = candles.slice(done[0]!.testStart, done[done.length - 1]!.testEnd);
    const overall = backtestStrategy(overallCandles, (c) => {
      const p = byTime.get(c.open_time);
      return p ? SIDE_OF[p.direction] : 'HOLD';
    }, { feeBps, slippageBps, mode, monteCarlo: false });
    equity = overall.equity;
    overallStrategy = summarize(overall);
  }
  return {
    windows,
    overall: { prediction: score([...byTime.values()]), strategy: overallStrategy },
    equity,
    predictions,
    stopped,
    config: {
      train_size: options.trainSize,
      test_size: options.testSize,
      step,
      anchored,
      horizon,
      fee_bps: feeBps,
      slippage_bps: slippageBps,
      mode,
      interval: first.interval,
      symbol: first.symbol,
    },
  };
}

function score(predictions: readonly WalkForwardPrediction[]): HeldOutMetrics {
  return scorePredictions(
    predictions.map((p) => p.actual_return ?? Number.NaN),
    predictions.map((p) => p.predicted_return),
  );
}
