// Command line for the ML jobs: `train` (a training job, in a worker thread by default) and
// `backtest` (walk-forward of the model, or a strategy backtest with --strategy). Candles come
// from an injected loader (the app wires ClickHouse) or from --candles file.json. A progress
// bar redraws in place (\r, ANSI erase) when stdout is a terminal; otherwise one line per update.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Candle } from '../../schemas/generated/events.ts';
import { saveRunArtifacts, toCsv } from '../backtest/artifacts.ts';
import { backtestStrategy, type BacktestMode, type StrategyInput } from '../backtest/strategy-backtest.ts';
import { walkForward, type WalkForwardOptions, type WalkForwardReport } from '../backtest/walk-forward.ts';
import type { ModelKind, TrainProgress } from './model.ts';
import { runTrainingInWorker, runTrainingJob, type TrainingJobResult, type TrainingJobSpec } from './training-job.ts';

export interface CandleQuery {
  symbol: string;
  interval: string;
  /** open_time >= from (ms). */
  from?: number;
  /** open_time < to (ms). */
  to?: number;
}

export type CandleLoader = (query: CandleQuery) => Promise<Candle[]>;

export interface CliOutput {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface CliDeps {
  loadCandles?: CandleLoader;
  /** Strategy by name and --param key=value pairs (the signals registry); undefined if unknown. */
  resolveStrategy?: (name: string, params: Record<string, string>) => StrategyInput | undefined;
  stdout?: CliOutput;
  stderr?: CliOutput;
}

const USAGE = `usage:
  train    --symbol S --interval I [--candles file.json] [--from T] [--to T]
           [--horizon 1] [--lookback 8] [--epochs 20] [--kind mlp|lstm] [--batch-size 64]
           [--learning-rate 0.001] [--hidden-units 32] [--seed 42] [--job-id ID]
           [--models-dir models] [--artifacts-dir artifacts] [--no-activate] [--in-process] [--json]
  backtest --symbol S --interval I [--candles file.json] [--from T] [--to T]
           walk-forward: [--train-size 500] [--test-size 100] [--step N] [--anchored]
                         [--horizon 1] [--lookback 8] [--epochs 10] [--kind mlp|lstm] [--seed 42]
           strategy:     --strategy NAME [--param key=value ...] [--monte-carlo-runs 1000] [--seed 42]
           [--fee-bps 10] [--slippage-bps 0] [--mode long_only|long_short]
           [--artifacts-dir artifacts] [--run-id ID] [--json]
  T is epoch milliseconds or an ISO date.`;

const OPTIONS = {
  symbol: { type: 'string' },
  interval: { type: 'string' },
  candles: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  horizon: { type: 'string' },
  lookback: { type: 'string' },
  epochs: { type: 'string' },
  kind: { type: 'string' },
  'batch-size': { type: 'string' },
  'learning-rate': { type: 'string' },
  'hidden-units': { type: 'string' },
  seed: { type: 'string' },
  'job-id': { type: 'string' },
  'run-id': { type: 'string' },
  'models-dir': { type: 'string' },
  'artifacts-dir': { type: 'string' },
  'no-activate': { type: 'boolean' },
  'in-process': { type: 'boolean' },
  json: { type: 'boolean' },
  'train-size': { type: 'string' },
  'test-size': { type: 'string' },
  step: { type: 'string' },
  anchored: { type: 'boolean' },
  'fee-bps': { type: 'string' },
  'slippage-bps': { type: 'string' },
  mode: { type: 'string' },
  strategy: { type: 'string' },
  param: { type: 'string', multiple: true },
  'monte-carlo-runs': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

class UsageError extends Error {}

/** Runs a subcommand; resolves with the process exit code (0 ok, 1 failed, 2 usage, 130 stopped). */
export async function runCli(argv: readonly string[], deps: CliDeps = {}): Promise<number> {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  try {
    const [command, ...rest] = argv;
    if (!command || command === '--help' || command === '-h' || command === 'help') {
      stdout.write(USAGE + '\n');
      return command ? 0 : 2;
    }
    const { values } = parseArgs({ args: rest, options: OPTIONS, strict: true, allowPositionals: false });
    if (values.help) {
      stdout.write(USAGE + '\n');
      return 0;
    }
    if (command === 'train') return await trainCommand(values, deps, stdout);
    if (command === 'backtest') return await backtestCommand(values, deps, stdout);
    throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    stderr.write(`error: ${message}\n`);
    if (error instanceof UsageError || (error instanceof TypeError && 'code' in error && String((error as { code: unknown }).code).startsWith('ERR_PARSE_ARGS'))) {
      stderr.write(USAGE + '\n');
      return 2;
    }
    return 1;
  }
}

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];

function required(values: Values, name: 'symbol' | 'interval'): string {
  const v = values[name];
  if (!v) throw new UsageError(`--${name} is required`);
  return v;
}

function int(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

function num(value: string | undefined, name: string, fallback: number): number;
function num(value: string | undefined, name: string, fallback?: undefined): number | undefined;
function num(value: string | undefined, name: string, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got ${JSON.stringify(value)}`);
  return n;
}

function time(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be epoch ms or an ISO date, got ${JSON.stringify(value)}`);
  return n;
}

function kindOf(value: string | undefined): ModelKind | undefined {
  if (value === undefined || value === 'mlp' || value === 'lstm') return value;
  throw new UsageError(`--kind must be mlp or lstm, got ${JSON.stringify(value)}`);
}

function modeOf(value: string | undefined): BacktestMode {
  if (value === undefined) return 'long_only';
  if (value === 'long_only' || value === 'long_short') return value;
  throw new UsageError(`--mode must be long_only or long_short, got ${JSON.stringify(value)}`);
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function slug(symbol: string): string {
  return symbol.replace(/[^A-Za-z0-9]+/g, '-');
}

async function candlesFor(values: Values, deps: CliDeps): Promise<Candle[]> {
  const query: CandleQuery = { symbol: required(values, 'symbol'), interval: required(values, 'interval'), from: time(values.from, 'from'), to: time(values.to, 'to') };
  let candles: Candle[];
  if (values.candles) candles = await readCandlesFile(values.candles, query);
  else if (deps.loadCandles) candles = await deps.loadCandles(query);
  else throw new UsageError('no candle source: pass --candles file.json');
  if (candles.length === 0) throw new Error(`no ${query.symbol} ${query.interval} candles found`);
  return candles;
}

/**
 * A JSON array of candles (or { "candles": [...] }). Only open_time and OHLCV are required;
 * symbol and interval default to the query's, the rest of the Candle fields to neutral values.
 * Candles of other symbols/intervals and outside from/to are dropped; the rest sorted by time.
 */
export async function readCandlesFile(file: string, query: CandleQuery): Promise<Candle[]> {
  const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
  const list = Array.isArray(parsed) ? parsed : typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as { candles?: unknown }).candles) ? (parsed as { candles: unknown[] }).candles : null;
  if (!list) throw new Error(`${file}: expected a JSON array of candles or { "candles": [...] }`);
  const out: Candle[] = [];
  list.forEach((raw, i) => {
    if (typeof raw !== 'object' || raw === null) throw new Error(`${file}: candle ${i} is not an object`);
    const r = raw as Record<string, unknown>;
    const numberField = (name: string): number => {
      const v = r[name];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${file}: candle ${i} needs a numeric ${name}`);
      return v;
    };
    const stringField = (name: string, fallback: string): string => (typeof r[name] === 'string' ? (r[name] as string) : fallback);
    const openTime = numberField('open_time');
    const symbol = stringField('symbol', query.symbol);
    const interval = stringField('interval', query.interval);
    const closeTime = typeof r['close_time'] === 'number' ? (r['close_time'] as number) : openTime;
    out.push({
      event_id: stringField('event_id', `${symbol}:${interval}:${openTime}`),
      event_type: stringField('event_type', 'candle'),
      schema_version: typeof r['schema_version'] === 'number' ? (r['schema_version'] as number) : 1,
      event_time: typeof r['event_time'] === 'number' ? (r['event_time'] as number) : closeTime,
      ingest_time: typeof r['ingest_time'] === 'number' ? (r['ingest_time'] as number) : closeTime,
      exchange: stringField('exchange', '*'),
      symbol,
      interval,
      open_time: openTime,
      close_time: closeTime,
      open: numberField('open'),
      high: numberField('high'),
      low: numberField('low'),
      close: numberField('close'),
      volume: numberField('volume'),
      trades: typeof r['trades'] === 'number' ? (r['trades'] as number) : 0,
      is_final: typeof r['is_final'] === 'boolean' ? (r['is_final'] as boolean) : true,
      revision: typeof r['revision'] === 'number' ? (r['revision'] as number) : 0,
    });
  });
  return out
    .filter((c) => c.symbol === query.symbol && c.interval === query.interval && (query.from === undefined || c.open_time >= query.from) && (query.to === undefined || c.open_time < query.to))
    .sort((a, b) => a.open_time - b.open_time);
}

/** Terminal progress bar: redraws one line in place on a TTY, prints a line per update otherwise. */
export class ProgressBar {
  private drawn = false;
  private lastLine = '';
  constructor(private readonly out: CliOutput, private readonly width = 28) {}

  update(fraction: number, label: string): void {
    const f = Math.min(1, Math.max(0, fraction));
    const pct = `${Math.round(f * 100)}%`.padStart(4);
    if (this.out.isTTY) {
      const filled = Math.round(f * this.width);
      let line = `[${'#'.repeat(filled)}${'.'.repeat(this.width - filled)}] ${pct} ${label}`;
      const columns = this.out.columns ?? 0;
      if (columns > 0 && line.length > columns - 1) line = line.slice(0, columns - 1);
      this.out.write(`\r\x1b[2K${line}`);
      this.drawn = true;
    } else {
      const line = `progress ${pct.trim()} ${label}`;
      if (line !== this.lastLine) this.out.write(line + '\n');
      this.lastLine = line;
    }
  }

  /** Ends the bar's line (TTY) so later output starts clean. */
  finish(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function epochLabel(p: TrainProgress): string {
  const val = p.val_loss === null ? '' : ` val ${p.val_loss.toFixed(4)}`;
  return `epoch ${p.epoch}/${p.epochs} loss ${p.loss.toFixed(4)}${val} eta ${formatDuration(p.eta_ms)}`;
}

/** Ctrl-C asks the job to stop (once); a second Ctrl-C gets Node's default behaviour back. */
function onInterrupt(stop: () => void): () => void {
  const handler = (): void => stop();
  process.once('SIGINT', handler);
  return () => process.off('SIGINT', handler);
}

async function trainCommand(values: Values, deps: CliDeps, stdout: CliOutput): Promise<number> {
  const symbol = required(values, 'symbol');
  const interval = required(values, 'interval');
  const horizon = int(values.horizon, 'horizon', 1);
  const spec: TrainingJobSpec = {
    job_id: values['job-id'] ?? `train-${slug(symbol)}-${interval}-h${horizon}-${stamp()}`,
    symbol,
    interval,
    horizon,
    epochs: int(values.epochs, 'epochs', 20),
    kind: kindOf(values.kind),
    lookback: values.lookback === undefined ? undefined : int(values.lookback, 'lookback', 8),
    batch_size: values['batch-size'] === undefined ? undefined : int(values['batch-size'], 'batch-size', 64),
    learning_rate: num(values['learning-rate'], 'learning-rate'),
    hidden_units: values['hidden-units'] === undefined ? undefined : int(values['hidden-units'], 'hidden-units', 32),
    seed: values.seed === undefined ? undefined : int(values.seed, 'seed', 42),
    from: time(values.from, 'from'),
    to: time(values.to, 'to'),
    models_root: path.resolve(values['models-dir'] ?? 'models'),
    artifacts_root: path.resolve(values['artifacts-dir'] ?? 'artifacts'),
    activate: !values['no-activate'],
  };
  const candles = await candlesFor(values, deps);
  const bar = new ProgressBar(stdout);
  bar.update(0, `training ${symbol} ${interval} on ${candles.length} candles`);
  const onProgress = (p: TrainProgress): void => bar.update(p.epoch / p.epochs, epochLabel(p));
  let result: TrainingJobResult;
  if (values['in-process']) {
    let stopRequested = false;
    const release = onInterrupt(() => (stopRequested = true));
    try {
      result = await runTrainingJob(spec, candles, { onProgress, shouldStop: () => stopRequested });
    } finally {
      release();
    }
  } else {
    const job = runTrainingInWorker(spec, candles, { onProgress });
    const release = onInterrupt(() => job.stop());
    try {
      result = await job.promise;
    } finally {
      release();
    }
  }
  bar.finish();
  if (values.json) stdout.write(JSON.stringify(result) + '\n');
  else {
    const m = result.metrics;
    stdout.write(
      `${result.status} ${result.model_id} (${result.backend}) epochs ${result.epochs_run}/${result.epochs_requested} in ${formatDuration(result.elapsed_ms)}\n` +
        `held-out: mae ${m.mae.toExponential(3)} rmse ${m.rmse.toExponential(3)} directional accuracy ${(m.directional_accuracy * 100).toFixed(1)}% (${m.samples} samples)\n` +
        `model: ${result.model_dir}${result.activated ? ' (active)' : ''}\n`,
    );
  }
  return result.status === 'stopped' ? 130 : 0;
}

function parseParams(pairs: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--param expects key=value, got ${JSON.stringify(pair)}`);
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

async function backtestCommand(values: Values, deps: CliDeps, stdout: CliOutput): Promise<number> {
  const symbol = required(values, 'symbol');
  const interval = required(values, 'interval');
  const feeBps = num(values['fee-bps'], 'fee-bps', 10);
  const slippageBps = num(values['slippage-bps'], 'slippage-bps', 0);
  const mode = modeOf(values.mode);
  const artifactsRoot = path.resolve(values['artifacts-dir'] ?? 'artifacts');
  const bar = new ProgressBar(stdout);

  if (values.strategy) {
    const params = parseParams(values.param);
    const strategy = deps.resolveStrategy?.(values.strategy, params);
    if (!strategy) throw new UsageError(`unknown strategy ${JSON.stringify(values.strategy)}`);
    const candles = await candlesFor(values, deps);
    const runId = values['run-id'] ?? `strategy-${slug(values.strategy)}-${slug(symbol)}-${interval}-${stamp()}`;
    const result = backtestStrategy(candles, strategy, {
      feeBps,
      slippageBps,
      mode,
      monteCarlo: { runs: int(values['monte-carlo-runs'], 'monte-carlo-runs', 1000), seed: int(values.seed, 'seed', 42) },
    });
    bar.update(1, `${values.strategy} on ${candles.length} candles`);
    bar.finish();
    const files = await saveRunArtifacts(artifactsRoot, runId, {
      kind: 'strategy_backtest',
      metrics: { symbol, interval, strategy: values.strategy, params, fee_bps: feeBps, slippage_bps: slippageBps, mode, metrics: result.metrics, monte_carlo: result.monte_carlo },
      equity: result.equity,
      files: { 'trades.csv': toCsv(['side', 'entry_time', 'entry_price', 'exit_time', 'exit_price', 'return', 'pnl', 'bars_held', 'exit_reason'], result.trades.map((t) => ({ ...t }))) },
    });
    if (values.json) stdout.write(JSON.stringify({ run_id: runId, ...result, artifacts: files }) + '\n');
    else {
      const m = result.metrics;
      stdout.write(
        `return ${(m.total_return * 100).toFixed(2)}% sharpe ${m.sharpe.toFixed(2)} max drawdown ${(m.max_drawdown * 100).toFixed(2)}% trades ${m.trades} win rate ${(m.win_rate * 100).toFixed(1)}%\n` +
          `artifacts: ${path.join(artifactsRoot, runId)}\n`,
      );
    }
    return 0;
  }

  const runId = values['run-id'] ?? `walk-forward-${slug(symbol)}-${interval}-${stamp()}`;
  let stopRequested = false;
  const options: WalkForwardOptions = {
    trainSize: int(values['train-size'], 'train-size', 500),
    testSize: int(values['test-size'], 'test-size', 100),
    step: values.step === undefined ? undefined : int(values.step, 'step', 100),
    anchored: values.anchored ?? false,
    model: {
      horizon: int(values.horizon, 'horizon', 1),
      lookback: values.lookback === undefined ? undefined : int(values.lookback, 'lookback', 8),
      epochs: int(values.epochs, 'epochs', 10),
      kind: kindOf(values.kind),
      seed: values.seed === undefined ? undefined : int(values.seed, 'seed', 42),
    },
    feeBps,
    slippageBps,
    mode,
    shouldStop: () => stopRequested,
    onProgress: (p) => bar.update(p.fraction, `window ${p.window}/${p.windows} ${p.phase}${p.epoch ? ` ${epochLabel(p.epoch)}` : ''}`),
  };
  const candles = await candlesFor(values, deps);
  const release = onInterrupt(() => (stopRequested = true));
  let report: WalkForwardReport;
  try {
    report = await walkForward(candles, options);
  } finally {
    release();
  }
  bar.finish();
  const files = await saveRunArtifacts(artifactsRoot, runId, {
    kind: 'walk_forward',
    metrics: { config: report.config, overall: report.overall, windows: report.windows, stopped: report.stopped },
    equity: report.equity,
    files: {
      'predictions.csv': toCsv(['time', 'window', 'predicted_return', 'direction', 'confidence', 'actual_return'], report.predictions.map((p) => ({ ...p }))),
    },
  });
  if (values.json) stdout.write(JSON.stringify({ run_id: runId, ...report, artifacts: files }) + '\n');
  else {
    const o = report.overall;
    stdout.write(
      `${report.windows.length} windows${report.stopped ? ' (stopped)' : ''}: directional accuracy ${(o.prediction.directional_accuracy * 100).toFixed(1)}% mae ${o.prediction.mae.toExponential(3)}\n` +
        `strategy (${mode}, ${feeBps} bps): return ${(o.strategy.total_return * 100).toFixed(2)}% sharpe ${o.strategy.sharpe.toFixed(2)} max drawdown ${(o.strategy.max_drawdown * 100).toFixed(2)}% trades ${o.strategy.trades}\n` +
        `artifacts: ${path.join(artifactsRoot, runId)}\n`,
    );
  }
  return report.stopped ? 130 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = await runCli(process.argv.slice(2));
}
