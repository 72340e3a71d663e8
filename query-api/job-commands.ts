// What the job routes share (ml.ts, predictions.ts, signals-backtest.ts): publishing a job
// command on control.commands.v1, and reading job status from the control_events projection.
// Both training route sets of the seed (/train/* and /predictions/train*) go through here, so
// they publish the same commands and show the same jobs.
import { randomUUID } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { Type, type Static } from '@sinclair/typebox';
import type { ApiDeps } from './context.ts';
import { HttpError } from './context.ts';
import { JOB_COMMANDS, JOBS_TARGET, TERMINAL_STATES, type JobState, type JobType } from '../processors/jobs/job-contract.ts';
import { JobStatus, readJobs, toJobStatus } from '../processors/jobs/job-status.ts';

export { JobStatus };

/** The answer to a write that started a job: the job as it stands (queued until the runner takes it). */
export const JobAccepted = Type.Object({
  job_id: Type.String(),
  type: Type.String(),
  status: Type.String({ description: 'queued when just requested; see the status route for progress' }),
  command_id: Type.String(),
  symbol: Type.String(),
  interval: Type.String(),
  params: Type.Record(Type.String(), Type.Unknown()),
  status_url: Type.String(),
});
export type JobAccepted = Static<typeof JobAccepted>;

export const JobStatusAnswer = Type.Object({
  job: Type.Union([JobStatus, Type.Null()], { description: 'The requested job, or the latest one' }),
  jobs: Type.Array(JobStatus, { description: 'Recent jobs, newest first' }),
});

export const JobStatusQuery = Type.Object({
  job_id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 20 })),
}, { additionalProperties: false });

export const ErrorAnswer = Type.Object({ error: Type.String(), statusCode: Type.Integer() });

/** <prefix>-<utc yyyymmddThhmmss>-<8 hex>: readable, sortable, unique. */
export function newJobId(prefix: string, now = new Date()): string {
  return `${prefix}-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomUUID().slice(0, 8)}`;
}

export async function publishJobCommand(deps: ApiDeps, command: string, params: Record<string, unknown> & { job_id: string }, requestedBy: string, commandId: string): Promise<void> {
  if (!deps.publisher) throw new HttpError(503, 'this API runs without Kafka; job commands cannot be sent');
  const now = Date.now();
  const { rejected } = await deps.publisher.publish('commands', [{
    key: JOBS_TARGET,
    value: { event_id: commandId, event_type: 'command', schema_version: 1, event_time: now, ingest_time: now, target: JOBS_TARGET, command, params_json: JSON.stringify(params), requested_by: requestedBy },
  }]);
  if (rejected) throw new HttpError(500, 'the command did not match its schema');
}

/** Publish a start command for a new job and answer with the job entity. */
export async function startJob(deps: ApiDeps, type: JobType, command: string, fields: Record<string, unknown>, requestedBy: string, statusPath: string, jobIdPrefix: string): Promise<JobAccepted> {
  const jobId = newJobId(jobIdPrefix);
  const commandId = `command:${jobId}:${command}`;
  const params = { ...fields, job_id: jobId };
  await publishJobCommand(deps, command, params, requestedBy, commandId);
  return {
    job_id: jobId,
    type,
    status: 'queued',
    command_id: commandId,
    symbol: String(fields.symbol),
    interval: String(fields.interval ?? '1m'),
    params,
    status_url: `/api/v1${statusPath}?job_id=${encodeURIComponent(jobId)}`,
  };
}

export async function jobStatusAnswer(clickhouse: ClickHouseClient, types: readonly JobType[], query: Static<typeof JobStatusQuery>): Promise<Static<typeof JobStatusAnswer>> {
  const jobs = (await readJobs(clickhouse, { types, limit: query.limit ?? 20 })).map(toJobStatus);
  if (!query.job_id) return { job: jobs[0] ?? null, jobs };
  const [one] = await readJobs(clickhouse, { types, jobId: query.job_id, limit: 1 });
  if (!one) throw new HttpError(404, `no ${types.join(' or ')} job ${query.job_id}`);
  return { job: toJobStatus(one), jobs };
}

/** Ask a training job to stop: the named one, or every queued or running one. */
export async function stopTraining(deps: ApiDeps, jobId: string | undefined, requestedBy: string): Promise<JobStatus[]> {
  const open: readonly JobState[] = ['queued', 'running'];
  const targets = (await readJobs(deps.clickhouse, { types: ['training'], jobId, limit: 100 })).map(toJobStatus);
  if (jobId) {
    const job = targets[0];
    if (!job) throw new HttpError(404, `no training job ${jobId}`);
    if (TERMINAL_STATES.includes(job.status)) throw new HttpError(409, `training job ${jobId} is already ${job.status}`);
  }
  const live = targets.filter((j) => open.includes(j.status));
  if (live.length === 0) throw new HttpError(404, 'no training job is queued or running');
  for (const job of live) {
    await publishJobCommand(deps, JOB_COMMANDS.trainStop, { job_id: job.job_id }, requestedBy, `command:${job.job_id}:${JOB_COMMANDS.trainStop}:${randomUUID().slice(0, 8)}`);
  }
  return live.map((j) => ({ ...j, stop_requested: true }));
}

/** Replace non-finite numbers (NaN metrics of an empty held-out set) with null, for JSON. */
export function finiteJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))) as T;
}
