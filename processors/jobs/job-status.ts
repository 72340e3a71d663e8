// The job status projection. Every job event on control.events.v1 (source `job:<id>`) carries the
// job's whole snapshot in payload_json, with a per-job sequence number, so a job's status is
// simply its latest event: argMax over (event_time, seq) per source in control_events. The API
// reads it for /train/status, /backtest/status and /predictions/train/status; the job runner
// reads it to skip replayed commands and to close jobs a crashed runner left open.
import type { ClickHouseClient } from '@clickhouse/client';
import { Type, type Static } from '@sinclair/typebox';
import type { JobState, JobType } from './job-contract.ts';

export const JobProgress = Type.Object({
  /** Training: 1-based epoch just completed (of the current window for walk-forward). */
  epoch: Type.Union([Type.Integer(), Type.Null()]),
  epochs: Type.Union([Type.Integer(), Type.Null()]),
  loss: Type.Union([Type.Number(), Type.Null()]),
  val_loss: Type.Union([Type.Number(), Type.Null()]),
  /** Walk-forward: window being processed, of windows, and its phase. */
  window: Type.Union([Type.Integer(), Type.Null()]),
  windows: Type.Union([Type.Integer(), Type.Null()]),
  phase: Type.Union([Type.String(), Type.Null()]),
  /** 0..1 over the whole job. */
  fraction: Type.Number(),
  elapsed_ms: Type.Number(),
  eta_ms: Type.Union([Type.Number(), Type.Null()]),
});
export type JobProgress = Static<typeof JobProgress>;

/** What payload_json of every job event holds. */
export interface JobSnapshot {
  job_id: string;
  type: JobType;
  status: JobState;
  /** Per-job event sequence: orders events that share an event_time. */
  seq: number;
  command_id: string;
  requested_by: string;
  symbol: string;
  interval: string;
  params: Record<string, unknown>;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  backend: string | null;
  progress: JobProgress | null;
  stop_requested: boolean;
  result: Record<string, unknown> | null;
  error: string | null;
}

/** A job as the API shows it. */
export const JobStatus = Type.Object({
  job_id: Type.String(),
  type: Type.Union([Type.Literal('training'), Type.Literal('walk_forward'), Type.Literal('strategy_backtest')]),
  status: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('stopped')]),
  command_id: Type.String(),
  requested_by: Type.String(),
  symbol: Type.String(),
  interval: Type.String(),
  params: Type.Record(Type.String(), Type.Unknown()),
  created_at: Type.String({ format: 'date-time' }),
  started_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  finished_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  updated_at: Type.String({ format: 'date-time' }),
  backend: Type.Union([Type.String(), Type.Null()]),
  progress: Type.Union([JobProgress, Type.Null()]),
  stop_requested: Type.Boolean(),
  result: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
});
export type JobStatus = Static<typeof JobStatus>;

export interface JobQuery {
  jobId?: string;
  types?: readonly JobType[];
  states?: readonly JobState[];
  limit?: number;
}

export interface ProjectedJob {
  snapshot: JobSnapshot;
  updated_at: number;
}

/** Latest snapshot per job, newest job first. */
export async function readJobs(client: ClickHouseClient, query: JobQuery = {}): Promise<ProjectedJob[]> {
  const rs = await client.query({
    query: `SELECT argMax(payload_json, (event_time, JSONExtractUInt(payload_json, 'seq'))) AS payload,
                   toUnixTimestamp64Milli(max(event_time)) AS updated
            FROM control_events FINAL
            WHERE startsWith(source, 'job:')
              AND ({job_id:String} = '' OR source = concat('job:', {job_id:String}))
              AND (empty({types:Array(String)}) OR has({types:Array(String)}, JSONExtractString(payload_json, 'type')))
            GROUP BY source
            HAVING empty({states:Array(String)}) OR has({states:Array(String)}, JSONExtractString(payload, 'status'))
            ORDER BY min(event_time) DESC, source
            LIMIT {limit:UInt32}`,
    query_params: { job_id: query.jobId ?? '', types: query.types ?? [], states: query.states ?? [], limit: query.limit ?? 50 },
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ payload: string; updated: string | number }>();
  return rows.map((r) => ({ snapshot: JSON.parse(r.payload) as JobSnapshot, updated_at: Number(r.updated) }));
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function toJobStatus({ snapshot: s, updated_at }: ProjectedJob): JobStatus {
  return {
    job_id: s.job_id,
    type: s.type,
    status: s.status,
    command_id: s.command_id,
    requested_by: s.requested_by,
    symbol: s.symbol,
    interval: s.interval,
    params: s.params,
    created_at: iso(s.created_at)!,
    started_at: iso(s.started_at),
    finished_at: iso(s.finished_at),
    updated_at: iso(updated_at)!,
    backend: s.backend,
    progress: s.progress,
    stop_requested: s.stop_requested,
    result: s.result,
    error: s.error,
  };
}
