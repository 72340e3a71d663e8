// Worker-thread entry of the backtest jobs (walk-forward of the model, strategy backtest): the
// job runner loads the candles and starts this with startWorker, so neither the model training
// inside a walk-forward nor a long strategy run holds the pipeline's event loop. Writes the run's
// artifacts and posts BacktestWorkerEvents.
import { parentPort, workerData } from 'node:worker_threads';
import type { Candle } from '../../schemas/generated/events.ts';
import { saveRunArtifacts, toCsv, type ArtifactFile } from '../backtest/artifacts.ts';
import { backtestStrategy } from '../backtest/strategy-backtest.ts';
import { walkForward, type WalkForwardProgress } from '../backtest/walk-forward.ts';
import { loadTf } from '../ml/tf-backend.ts';
import { createStrategy } from '../signals/strategy-registry.ts';
import type { StrategyBacktestParams, WalkForwardParams } from './job-contract.ts';

export type BacktestWorkerData =
  | { kind: 'walk_forward'; params: WalkForwardParams; candles: Candle[]; artifacts_root: string; stop_flag: SharedArrayBuffer }
  | { kind: 'strategy_backtest'; params: StrategyBacktestParams; candles: Candle[]; warmup: Candle[]; artifacts_root: string; stop_flag: SharedArrayBuffer };

export type BacktestWorkerEvent =
  | { type: 'started'; backend: string | null }
  | { type: 'progress'; progress: WalkForwardProgress }
  | { type: 'result'; result: Record<string, unknown>; stopped: boolean }
  | { type: 'error'; message: string };

/** Trades carried in the job's result event; all of them are in the run's trades.csv. */
export const MAX_TRADES_IN_RESULT = 500;

const port = parentPort;
if (!port) throw new Error('backtest-worker.ts must run in a worker thread');
const data = workerData as BacktestWorkerData;
const stopFlag = new Int32Array(data.stop_flag);
const post = (event: BacktestWorkerEvent): void => port.postMessage(event);

async function runWalkForward(d: Extract<BacktestWorkerData, { kind: 'walk_forward' }>): Promise<void> {
  const p = d.params;
  const { backend } = await loadTf();
  post({ type: 'started', backend });
  const report = await walkForward(d.candles, {
    trainSize: p.train_size ?? 500,
    testSize: p.test_size ?? 100,
    step: p.step,
    anchored: p.anchored ?? false,
    model: { horizon: p.horizon ?? 1, epochs: p.epochs ?? 10, kind: p.kind, lookback: p.lookback, hiddenUnits: p.hidden_units, seed: p.seed },
    feeBps: p.fee_bps ?? 10,
    slippageBps: p.slippage_bps ?? 0,
    mode: p.mode ?? 'long_only',
    onProgress: (progress) => post({ type: 'progress', progress }),
    shouldStop: () => Atomics.load(stopFlag, 0) === 1,
  });
  const artifacts = await saveRunArtifacts(d.artifacts_root, p.job_id, {
    kind: 'walk_forward',
    metrics: { job_id: p.job_id, config: report.config, overall: report.overall, windows: report.windows, stopped: report.stopped, backend },
    equity: report.equity,
    files: {
      'predictions.csv': toCsv(['time', 'window', 'predicted_return', 'direction', 'confidence', 'actual_return'], report.predictions.map((x) => ({ ...x }))),
    },
  });
  post({
    type: 'result',
    stopped: report.stopped,
    result: { config: report.config, overall: report.overall, windows: report.windows, predictions: report.predictions.length, artifacts: artifactRefs(artifacts) },
  });
}

async function runStrategyBacktest(d: Extract<BacktestWorkerData, { kind: 'strategy_backtest' }>): Promise<void> {
  const p = d.params;
  post({ type: 'started', backend: null });
  const strategy = createStrategy(p.strategy, p.params ?? {});
  if (d.warmup.length) strategy.warmUp(d.warmup);
  const runs = p.monte_carlo_runs ?? 1000;
  const result = backtestStrategy(d.candles, strategy, {
    initialCapital: p.initial_capital ?? 10_000,
    feeBps: p.fee_bps ?? 10,
    slippageBps: p.slippage_bps ?? 0,
    mode: p.mode ?? 'long_only',
    monteCarlo: runs > 0 ? { runs, seed: p.monte_carlo_seed ?? 42 } : false,
  });
  const artifacts = await saveRunArtifacts(d.artifacts_root, p.job_id, {
    kind: 'strategy_backtest',
    metrics: {
      job_id: p.job_id, symbol: p.symbol, interval: p.interval ?? '1m', strategy: p.strategy, params: strategy.params,
      fee_bps: p.fee_bps ?? 10, slippage_bps: p.slippage_bps ?? 0, mode: p.mode ?? 'long_only',
      metrics: result.metrics, monte_carlo: result.monte_carlo,
    },
    equity: result.equity,
    files: { 'trades.csv': toCsv(['side', 'entry_time', 'entry_price', 'exit_time', 'exit_price', 'return', 'pnl', 'bars_held', 'exit_reason'], result.trades.map((t) => ({ ...t }))) },
  });
  post({
    type: 'result',
    stopped: false,
    result: {
      strategy: p.strategy,
      params: strategy.params,
      range: { from: d.candles[0]!.open_time, to: d.candles[d.candles.length - 1]!.close_time, candles: d.candles.length, warmup_candles: d.warmup.length },
      metrics: result.metrics,
      monte_carlo: result.monte_carlo,
      trades: result.trades.slice(0, MAX_TRADES_IN_RESULT),
      trades_total: result.trades.length,
      artifacts: artifactRefs(artifacts),
    },
  });
}

function artifactRefs(files: readonly ArtifactFile[]): Array<{ name: string; relative_path: string; kind: string }> {
  return files.map((f) => ({ name: f.name, relative_path: f.relative_path, kind: f.kind }));
}

try {
  if (data.kind === 'walk_forward') await runWalkForward(data);
  else await runStrategyBacktest(data);
} catch (error) {
  post({ type: 'error', message: error instanceof Error ? error.message : String(error) });
} finally {
  port.unref();
}
