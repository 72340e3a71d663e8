// The job contract between the API (which publishes commands) and the job runner (which carries
// them out): command names, their params as TypeBox schemas (the API's request bodies are built
// from them and the runner checks every command against them), and the ControlEvent kinds a job
// reports on control.events.v1 with source `job:<job_id>`.
import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** Command.target of every job command. */
export const JOBS_TARGET = 'jobs';

export const JOB_COMMANDS = {
  trainStart: 'train.start',
  trainStop: 'train.stop',
  backtestRun: 'backtest.run',
  strategyBacktestRun: 'strategy_backtest.run',
} as const;

export type JobType = 'training' | 'walk_forward' | 'strategy_backtest';
export type JobState = 'queued' | 'running' | 'completed' | 'failed' | 'stopped';
export const TERMINAL_STATES: readonly JobState[] = ['completed', 'failed', 'stopped'];

/** ControlEvent.kind per job event; the state each one puts the job in. */
export const JOB_EVENT_KINDS = {
  accepted: 'job.accepted',
  started: 'job.started',
  progress: 'job.progress',
  stopRequested: 'job.stop_requested',
  finished: 'job.finished',
  failed: 'job.failed',
  stopped: 'job.stopped',
} as const;
export type JobEventKind = (typeof JOB_EVENT_KINDS)[keyof typeof JOB_EVENT_KINDS];

export const jobSource = (jobId: string): string => `job:${jobId}`;
export const JOB_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';

const Symbol_ = Type.String({ pattern: '^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$', description: 'Unified market symbol, e.g. BTC/USDT' });
const Interval = Type.String({ pattern: '^[0-9]{1,4}[smhdw]$', default: '1m', description: 'Candle interval, e.g. 1m, 5m, 1h' });
const Time = Type.Integer({ minimum: 0, description: 'open_time bound, epoch ms UTC' });
const Mode = Type.Union([Type.Literal('long_only'), Type.Literal('long_short')], { default: 'long_only' });
const Kind = Type.Union([Type.Literal('mlp'), Type.Literal('lstm')], { default: 'mlp' });

/** Fields a client sends to start a training job (POST /train/start and /predictions/train). */
export const TrainStartFields = {
  symbol: Symbol_,
  interval: Type.Optional(Interval),
  horizon: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 1, description: 'Candles ahead the model predicts' })),
  epochs: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 20 })),
  kind: Type.Optional(Kind),
  lookback: Type.Optional(Type.Integer({ minimum: 1, maximum: 256, default: 8, description: 'Feature rows per sample' })),
  batch_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096, default: 64 })),
  learning_rate: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.001 })),
  validation_fraction: Type.Optional(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 0.9, default: 0.2 })),
  hidden_units: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024, default: 32 })),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, default: 42 })),
  from: Type.Optional(Time),
  to: Type.Optional(Time),
  activate: Type.Optional(Type.Boolean({ default: true, description: 'Make the model active for the symbol when training completes' })),
} satisfies TProperties;

export const WalkForwardFields = {
  symbol: Symbol_,
  interval: Type.Optional(Interval),
  from: Type.Optional(Time),
  to: Type.Optional(Time),
  train_size: Type.Optional(Type.Integer({ minimum: 20, maximum: 100_000, default: 500, description: 'Candles per training window' })),
  test_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, default: 100, description: 'Candles per test window' })),
  step: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'Candles between test windows; default test_size' })),
  anchored: Type.Optional(Type.Boolean({ default: false })),
  horizon: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 1 })),
  epochs: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 10 })),
  kind: Type.Optional(Kind),
  lookback: Type.Optional(Type.Integer({ minimum: 1, maximum: 256, default: 8 })),
  hidden_units: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024, default: 32 })),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, default: 42 })),
  fee_bps: Type.Optional(Type.Number({ minimum: 0, maximum: 1000, default: 10 })),
  slippage_bps: Type.Optional(Type.Number({ minimum: 0, maximum: 1000, default: 0 })),
  mode: Type.Optional(Mode),
} satisfies TProperties;

export const StrategyBacktestFields = {
  strategy: Type.String({ minLength: 1, maxLength: 64, description: 'A strategy of GET /api/v1/signals/strategies' }),
  params: Type.Optional(Type.Record(Type.String(), Type.Union([Type.Number(), Type.String()]), { description: 'Strategy parameters; defaults from the catalogue' })),
  symbol: Symbol_,
  interval: Type.Optional(Interval),
  from: Type.Optional(Time),
  to: Type.Optional(Time),
  fee_bps: Type.Optional(Type.Number({ minimum: 0, maximum: 1000, default: 10 })),
  slippage_bps: Type.Optional(Type.Number({ minimum: 0, maximum: 1000, default: 0 })),
  mode: Type.Optional(Mode),
  initial_capital: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1e15, default: 10_000 })),
  warmup_candles: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000, default: 200, description: 'Candles before `from` fed to the strategy first (indicator warm-up)' })),
  monte_carlo_runs: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000, default: 1000, description: '0 skips the Monte Carlo resampling' })),
  monte_carlo_seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, default: 42 })),
} satisfies TProperties;

const withJobId = <P extends TProperties>(fields: P): TObject<P & { job_id: ReturnType<typeof Type.String> }> =>
  Type.Object({ job_id: Type.String({ pattern: JOB_ID_PATTERN }), ...fields }, { additionalProperties: false }) as TObject<P & { job_id: ReturnType<typeof Type.String> }>;

export const TrainStartParams = withJobId(TrainStartFields);
export const WalkForwardParams = withJobId(WalkForwardFields);
export const StrategyBacktestParams = withJobId(StrategyBacktestFields);
export const TrainStopParams = Type.Object({ job_id: Type.String({ pattern: JOB_ID_PATTERN }) }, { additionalProperties: false });

export type TrainStartParams = Static<typeof TrainStartParams>;
export type WalkForwardParams = Static<typeof WalkForwardParams>;
export type StrategyBacktestParams = Static<typeof StrategyBacktestParams>;
export type TrainStopParams = Static<typeof TrainStopParams>;

export const JOB_TYPE_OF_COMMAND: Record<string, JobType | undefined> = {
  [JOB_COMMANDS.trainStart]: 'training',
  [JOB_COMMANDS.backtestRun]: 'walk_forward',
  [JOB_COMMANDS.strategyBacktestRun]: 'strategy_backtest',
};

const PARAMS_OF_COMMAND = {
  [JOB_COMMANDS.trainStart]: TrainStartParams,
  [JOB_COMMANDS.backtestRun]: WalkForwardParams,
  [JOB_COMMANDS.strategyBacktestRun]: StrategyBacktestParams,
  [JOB_COMMANDS.trainStop]: TrainStopParams,
} as const;

export class JobParamsError extends Error {
  override readonly name = 'JobParamsError';
}

/** Parses a command's params_json against its schema; throws JobParamsError naming the field. */
export function parseJobParams<C extends keyof typeof PARAMS_OF_COMMAND>(command: C, paramsJson: string): Static<(typeof PARAMS_OF_COMMAND)[C]> {
  const schema = PARAMS_OF_COMMAND[command];
  let raw: unknown;
  try {
    raw = JSON.parse(paramsJson);
  } catch {
    throw new JobParamsError('params_json is not JSON');
  }
  if (!Value.Check(schema, raw)) {
    const first = Value.Errors(schema, raw).First();
    throw new JobParamsError(`params${first?.path ?? ''}: ${first?.message ?? 'invalid'}`);
  }
  return raw as Static<(typeof PARAMS_OF_COMMAND)[C]>;
}

export function isJobCommand(command: string): command is keyof typeof PARAMS_OF_COMMAND {
  return command in PARAMS_OF_COMMAND;
}
