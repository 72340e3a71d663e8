// The job runner (processors role): consumes job commands from control.commands.v1, runs
// training, walk-forward and strategy backtests in worker threads on candles from ClickHouse, and
// reports every step on control.events.v1 as a ControlEvent with source `job:<job_id>` whose
// payload is the job's whole snapshot (see job-status.ts). Models go to <home>/models (the model
// registry; a completed training job activates its model), artifacts to <home>/artifacts.
//
// Reads: control.commands.v1 (group tickflow-jobs), candles, control_events. Writes:
// control.events.v1. State: the jobs in flight (rebuilt at start from control_events: queued
// jobs are queued again, running ones are closed as failed, since their worker died with the
// process that ran it).
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Producer } from 'kafkajs';
import type { Config } from '../../runtime/config.ts';
import type { EventCodec } from '../../runtime/codec.ts';
import type { KafkaContext } from '../../runtime/kafka.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { EventPublisher } from '../../ingest/tick-publisher.ts';
import type { Command, ControlEvent } from '../../schemas/generated/events.ts';
import { ConsumerRunner, type ConsumedRecord } from '../consumer-runner.ts';
import { intervalMs } from '../backtest/strategy-backtest.ts';
import { runTrainingInWorker, type TrainingJobResult } from '../ml/training-job.ts';
import { runWorker } from '../../runtime/worker.ts';
import type { TrainProgress } from '../ml/model.ts';
import type { WalkForwardProgress } from '../backtest/walk-forward.ts';
import type { BacktestWorkerData, BacktestWorkerEvent } from './backtest-worker.ts';
import { loadFinalCandles } from './candle-history.ts';
import {
  isJobCommand, JOB_COMMANDS, JOB_EVENT_KINDS, JOB_TYPE_OF_COMMAND, JOBS_TARGET, jobSource, JobParamsError, parseJobParams,
  type JobEventKind, type JobType, type StrategyBacktestParams, type TrainStartParams, type WalkForwardParams,
} from './job-contract.ts';
import { readJobs, type JobProgress, type JobSnapshot } from './job-status.ts';

export interface JobSystemDeps {
  config: Config;
  log: Logger;
  kafka: KafkaContext;
  codec: EventCodec;
  producer: Producer;
  publisher: EventPublisher;
  clickhouse: ClickHouseClient;
  /** Jobs running at once; later ones wait as `queued`. Default 1 (training saturates a core). */
  concurrency?: number;
  /** Minimum gap between two job.progress events of one job. Default 500 ms. */
  progressIntervalMs?: number;
}

export interface JobSystem {
  runner: JobRunner;
  /** Stop taking commands, ask running jobs to stop, wait for them (bounded), disconnect. */
  stop(): Promise<void>;
}

export function modelsRoot(config: Pick<Config, 'home'>): string {
  return path.join(config.home, 'models');
}

export function artifactsRoot(config: Pick<Config, 'home'>): string {
  return path.join(config.home, 'artifacts');
}

export async function startJobSystem(deps: JobSystemDeps): Promise<JobSystem> {
  const log = deps.log.child({ component: 'jobs' });
  const runner = new JobRunner({ ...deps, log });
  await runner.recover();
  const consumer = new ConsumerRunner({
    name: 'jobs',
    groupId: `${deps.config.kafka.topicPrefix}tickflow-jobs`,
    topics: ['commands'],
    ctx: deps.kafka,
    codec: deps.codec,
    producer: deps.producer,
    log,
    // Replays are safe: a command whose job already has events is skipped.
    fromBeginning: true,
    maxWaitMs: 100,
    write: (records) => runner.handle(records),
  });
  await consumer.start();
  return {
    runner,
    async stop() {
      await consumer.stop();
      await runner.shutdown();
    },
  };
}

interface ActiveJob {
  snapshot: JobSnapshot;
  lastEventTime: number;
  chain: Promise<void>;
  stop: (() => void) | null;
  done: Promise<void> | null;
  lastProgressAt: number;
  pendingProgress: JobProgress | null;
  progressTimer: NodeJS.Timeout | null;
  /** Latest completed epoch when the stop request arrived (training). */
  epochAtStopRequest: number | null;
}

type JobParams = TrainStartParams | WalkForwardParams | StrategyBacktestParams;

export class JobRunner {
  private readonly jobs = new Map<string, ActiveJob>();
  private readonly queue: ActiveJob[] = [];
  private running = 0;
  private closed = false;
  private readonly log: Logger;
  private readonly concurrency: number;
  private readonly progressIntervalMs: number;

  constructor(private readonly deps: JobSystemDeps) {
    this.log = deps.log;
    this.concurrency = deps.concurrency ?? 1;
    this.progressIntervalMs = deps.progressIntervalMs ?? 500;
  }

  /** Jobs this runner holds (queued or running). */
  activeJobIds(): string[] {
    return [...this.jobs.keys()];
  }

  /** At start: queue again the jobs left queued, close the ones left running. */
  async recover(): Promise<void> {
    const open = await readJobs(this.deps.clickhouse, { states: ['queued', 'running'], limit: 1000 });
    for (const { snapshot, updated_at } of open.reverse()) {
      const job = this.track(snapshot, updated_at);
      if (snapshot.status === 'running') {
        await this.emit(job, JOB_EVENT_KINDS.failed, { status: 'failed', finished_at: Date.now(), error: 'interrupted: the job runner stopped while the job ran' });
        this.jobs.delete(snapshot.job_id);
      } else {
        this.log.info({ job_id: snapshot.job_id }, 'queued job recovered');
        this.queue.push(job);
      }
    }
    this.pump();
  }

  /** ConsumerRunner write: accept start commands (job.accepted is acknowledged before the commit), route stops. */
  async handle(records: ConsumedRecord[]): Promise<void> {
    for (const r of records) {
      const command = r.value as Command;
      if (command.target !== JOBS_TARGET || !isJobCommand(command.command)) continue;
      try {
        if (command.command === JOB_COMMANDS.trainStop) await this.onStop(command);
        else await this.onStart(command);
      } catch (error) {
        if (!(error instanceof JobParamsError)) throw error;
        await this.rejectCommand(command, error.message);
      }
    }
  }

  private async onStart(command: Command): Promise<void> {
    const type = JOB_TYPE_OF_COMMAND[command.command]!;
    const params = parseJobParams(command.command as 'train.start', command.params_json) as JobParams;
    if (this.jobs.has(params.job_id) || (await readJobs(this.deps.clickhouse, { jobId: params.job_id, limit: 1 })).length > 0) {
      this.log.debug({ job_id: params.job_id }, 'command for a known job skipped (replay)');
      return;
    }
    const now = Date.now();
    const job = this.track({
      job_id: params.job_id,
      type,
      status: 'queued',
      seq: 0,
      command_id: command.event_id,
      requested_by: command.requested_by,
      symbol: params.symbol,
      interval: params.interval ?? '1m',
      params: { ...params },
      created_at: command.event_time || now,
      started_at: null,
      finished_at: null,
      backend: null,
      progress: null,
      stop_requested: false,
      result: null,
      error: null,
    }, 0);
    await this.emit(job, JOB_EVENT_KINDS.accepted, {});
    this.queue.push(job);
    this.pump();
  }

  private async onStop(command: Command): Promise<void> {
    const { job_id } = parseJobParams('train.stop', command.params_json);
    const job = this.jobs.get(job_id);
    if (!job) {
      this.log.info({ job_id }, 'stop for a job that is not running here; ignored');
      return;
    }
    await this.requestStop(job, command.requested_by);
  }

  private async requestStop(job: ActiveJob, by: string): Promise<void> {
    if (job.snapshot.stop_requested) return;
    const queuedAt = this.queue.indexOf(job);
    if (queuedAt >= 0) {
      this.queue.splice(queuedAt, 1);
      await this.emit(job, JOB_EVENT_KINDS.stopped, { status: 'stopped', stop_requested: true, finished_at: Date.now(), result: { stopped_before_start: true, stopped_by: by } });
      this.jobs.delete(job.snapshot.job_id);
      return;
    }
    job.epochAtStopRequest = job.pendingProgress?.epoch ?? job.snapshot.progress?.epoch ?? 0;
    await this.emit(job, JOB_EVENT_KINDS.stopRequested, { stop_requested: true });
    job.stop?.();
  }

  private async rejectCommand(command: Command, reason: string): Promise<void> {
    let jobId: string | null = null;
    try {
      const raw = JSON.parse(command.params_json) as { job_id?: unknown };
      if (typeof raw.job_id === 'string' && /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(raw.job_id)) jobId = raw.job_id;
    } catch { /* no job id to report on */ }
    this.log.warn({ command: command.command, command_id: command.event_id, reason }, 'job command rejected');
    const type = JOB_TYPE_OF_COMMAND[command.command];
    if (!jobId || !type || this.jobs.has(jobId)) return;
    const job = this.track({
      job_id: jobId, type, status: 'failed', seq: 0, command_id: command.event_id, requested_by: command.requested_by, symbol: '', interval: '',
      params: {}, created_at: command.event_time, started_at: null, finished_at: Date.now(), backend: null, progress: null, stop_requested: false, result: null, error: reason,
    }, 0);
    await this.emit(job, JOB_EVENT_KINDS.failed, {});
    this.jobs.delete(jobId);
  }

  private track(snapshot: JobSnapshot, lastEventTime: number): ActiveJob {
    const job: ActiveJob = {
      snapshot, lastEventTime, chain: Promise.resolve(), stop: null, done: null,
      lastProgressAt: 0, pendingProgress: null, progressTimer: null, epochAtStopRequest: null,
    };
    this.jobs.set(snapshot.job_id, job);
    return job;
  }

  /** Publish the job's next snapshot; events of one job go out in order, one at a time. */
  private emit(job: ActiveJob, kind: JobEventKind, patch: Partial<JobSnapshot>): Promise<void> {
    job.snapshot = { ...job.snapshot, ...patch, seq: job.snapshot.seq + 1 };
    const snapshot = job.snapshot;
    // Strictly increasing per job, so "latest event" is well defined even within a millisecond.
    const at = Math.max(Date.now(), job.lastEventTime + 1);
    job.lastEventTime = at;
    const source = jobSource(snapshot.job_id);
    const event: ControlEvent = {
      event_id: `${source}:${snapshot.seq}`,
      event_type: 'control',
      schema_version: 1,
      event_time: at,
      ingest_time: Date.now(),
      source,
      kind,
      command_id: snapshot.command_id,
      payload_json: JSON.stringify(snapshot, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)),
    };
    const send = job.chain.then(async () => {
      await this.deps.publisher.publish('controlEvents', [{ key: source, value: event }]);
    });
    job.chain = send.catch((error: unknown) => this.log.error({ job_id: snapshot.job_id, kind, err: error }, 'job event not published'));
    return send;
  }

  private progress(job: ActiveJob, progress: JobProgress): void {
    job.pendingProgress = progress;
    if (job.progressTimer) return;
    const wait = Math.max(0, job.lastProgressAt + this.progressIntervalMs - Date.now());
    job.progressTimer = setTimeout(() => {
      job.progressTimer = null;
      this.flushProgress(job);
    }, wait);
  }

  private flushProgress(job: ActiveJob): void {
    if (job.progressTimer) clearTimeout(job.progressTimer);
    job.progressTimer = null;
    const p = job.pendingProgress;
    if (!p || job.snapshot.status !== 'running') return;
    job.pendingProgress = null;
    job.lastProgressAt = Date.now();
    void this.emit(job, JOB_EVENT_KINDS.progress, { progress: p }).catch(() => undefined);
  }

  private pump(): void {
    while (!this.closed && this.running < this.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.running++;
      job.done = this.run(job).finally(() => {
        this.running--;
        this.jobs.delete(job.snapshot.job_id);
        this.pump();
      });
    }
  }

  private async run(job: ActiveJob): Promise<void> {
    const params = job.snapshot.params as unknown as JobParams;
    try {
      await this.emit(job, JOB_EVENT_KINDS.started, { status: 'running', started_at: Date.now(), progress: zeroProgress() });
      if (job.snapshot.type === 'training') await this.runTraining(job, params as TrainStartParams);
      else await this.runBacktest(job, job.snapshot.type, params as WalkForwardParams | StrategyBacktestParams);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.log.warn({ job_id: job.snapshot.job_id, err: message }, 'job failed');
      this.flushProgress(job);
      await this.emit(job, JOB_EVENT_KINDS.failed, { status: 'failed', finished_at: Date.now(), error: message }).catch(() => undefined);
    } finally {
      if (job.progressTimer) clearTimeout(job.progressTimer);
      await job.chain;
    }
  }

  private async runTraining(job: ActiveJob, p: TrainStartParams): Promise<void> {
    const candles = await loadFinalCandles(this.deps.clickhouse, { symbol: p.symbol, interval: p.interval ?? '1m', to: p.to });
    if (candles.length === 0) throw new Error(`no final ${p.symbol} ${p.interval ?? '1m'} candles in ClickHouse`);
    const handle = runTrainingInWorker(
      {
        job_id: p.job_id, symbol: p.symbol, interval: p.interval ?? '1m', horizon: p.horizon ?? 1, epochs: p.epochs ?? 20,
        kind: p.kind, lookback: p.lookback, batch_size: p.batch_size, learning_rate: p.learning_rate, validation_fraction: p.validation_fraction,
        hidden_units: p.hidden_units, seed: p.seed, from: p.from, to: p.to, model_id: `${p.job_id}-model`,
        models_root: modelsRoot(this.deps.config), artifacts_root: artifactsRoot(this.deps.config), activate: p.activate ?? true,
      },
      candles,
      {
        onStarted: ({ backend }) => void this.emit(job, JOB_EVENT_KINDS.progress, { backend, progress: { ...zeroProgress(), epochs: p.epochs ?? 20, phase: 'training' } }).catch(() => undefined),
        onProgress: (tp) => this.progress(job, trainingProgress(tp)),
      },
    );
    job.stop = () => handle.stop();
    if (job.snapshot.stop_requested) handle.stop();
    const result = await handle.promise;
    this.flushProgress(job);
    const kind = result.status === 'stopped' ? JOB_EVENT_KINDS.stopped : JOB_EVENT_KINDS.finished;
    const last = result.history[result.history.length - 1];
    await this.emit(job, kind, {
      status: result.status === 'stopped' ? 'stopped' : 'completed',
      finished_at: Date.now(),
      backend: result.backend,
      progress: last ? trainingProgress(last) : job.snapshot.progress,
      result: trainingResult(result, job.epochAtStopRequest),
    });
  }

  private async runBacktest(job: ActiveJob, type: Exclude<JobType, 'training'>, p: WalkForwardParams | StrategyBacktestParams): Promise<void> {
    const interval = p.interval ?? '1m';
    const candles = await loadFinalCandles(this.deps.clickhouse, { symbol: p.symbol, interval, from: p.from, to: p.to });
    if (candles.length === 0) throw new Error(`no final ${p.symbol} ${interval} candles in ClickHouse${p.from !== undefined || p.to !== undefined ? ' in the range' : ''}`);
    const stopFlag = new SharedArrayBuffer(4);
    let data: BacktestWorkerData;
    if (type === 'walk_forward') {
      data = { kind: 'walk_forward', params: p as WalkForwardParams, candles, artifacts_root: artifactsRoot(this.deps.config), stop_flag: stopFlag };
    } else {
      const sp = p as StrategyBacktestParams;
      const warmupCount = sp.warmup_candles ?? 200;
      const warmup = sp.from !== undefined && warmupCount > 0
        ? await loadFinalCandles(this.deps.clickhouse, { symbol: sp.symbol, interval, from: sp.from - warmupCount * intervalMs(interval) * 4, to: sp.from, limit: warmupCount })
        : [];
      data = { kind: 'strategy_backtest', params: sp, candles, warmup, artifacts_root: artifactsRoot(this.deps.config), stop_flag: stopFlag };
    }
    const run = runWorker<{ result: Record<string, unknown>; stopped: boolean }, BacktestWorkerEvent>(new URL('./backtest-worker.ts', import.meta.url), data, (event, settle) => {
      if (event.type === 'started') job.snapshot.backend = event.backend;
      else if (event.type === 'progress') this.progress(job, walkForwardProgress(event.progress));
      else if (event.type === 'result') settle.resolve({ result: event.result, stopped: event.stopped });
      else settle.reject(new Error(event.message));
    }, 'backtest worker');
    job.stop = () => Atomics.store(new Int32Array(stopFlag), 0, 1);
    if (job.snapshot.stop_requested) job.stop();
    const outcome = await run.promise;
    this.flushProgress(job);
    const doneProgress: JobProgress = { ...(job.snapshot.progress ?? zeroProgress()), fraction: 1, eta_ms: 0, elapsed_ms: Date.now() - (job.snapshot.started_at ?? Date.now()) };
    await this.emit(job, outcome.stopped ? JOB_EVENT_KINDS.stopped : JOB_EVENT_KINDS.finished, {
      status: outcome.stopped ? 'stopped' : 'completed',
      finished_at: Date.now(),
      progress: outcome.stopped ? job.snapshot.progress : doneProgress,
      result: outcome.result,
    });
  }

  /** Stop running jobs (they save what they have) and wait for them, up to timeoutMs. */
  async shutdown(timeoutMs = 15_000): Promise<void> {
    this.closed = true;
    const running = [...this.jobs.values()].filter((j) => j.done);
    for (const job of running) {
      await this.requestStop(job, 'shutdown').catch(() => undefined);
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(running.map((j) => j.done)),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); }),
    ]);
    clearTimeout(timer);
  }
}

function zeroProgress(): JobProgress {
  return { epoch: null, epochs: null, loss: null, val_loss: null, window: null, windows: null, phase: null, fraction: 0, elapsed_ms: 0, eta_ms: null };
}

function trainingProgress(p: TrainProgress): JobProgress {
  return {
    epoch: p.epoch, epochs: p.epochs, loss: finiteOrNull(p.loss), val_loss: finiteOrNull(p.val_loss), window: null, windows: null, phase: 'training',
    fraction: p.epoch / p.epochs, elapsed_ms: p.elapsed_ms, eta_ms: p.eta_ms,
  };
}

function walkForwardProgress(p: WalkForwardProgress): JobProgress {
  return {
    epoch: p.epoch?.epoch ?? null, epochs: p.epoch?.epochs ?? null, loss: finiteOrNull(p.epoch?.loss ?? null), val_loss: finiteOrNull(p.epoch?.val_loss ?? null),
    window: p.window, windows: p.windows, phase: p.phase, fraction: p.fraction, elapsed_ms: p.elapsed_ms, eta_ms: p.eta_ms,
  };
}

function finiteOrNull(x: number | null): number | null {
  return x !== null && Number.isFinite(x) ? x : null;
}

function trainingResult(r: TrainingJobResult, epochAtStopRequest: number | null): Record<string, unknown> {
  return {
    model_id: r.model_id,
    activated: r.activated,
    backend: r.backend,
    metrics: r.metrics,
    epochs_run: r.epochs_run,
    epochs_requested: r.epochs_requested,
    /** Epochs complete when the runner received the stop request, and when the worker saw it. */
    epoch_at_stop_request: epochAtStopRequest,
    stop_observed_after_epochs: r.stop_observed_after_epochs,
    elapsed_ms: r.elapsed_ms,
    artifacts: r.artifacts.map((a) => ({ name: a.name, relative_path: a.relative_path, kind: a.kind })),
  };
}
