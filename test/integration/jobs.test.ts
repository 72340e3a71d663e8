// The job system end to end on real services: training, walk-forward and strategy backtests
// started through the API as commands on control.commands.v1, run by the job runner in worker
// threads on candles from ClickHouse (chDB), reported on control.events.v1 and read back from
// control_events; the trained model's predictions published by the predictions processor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, readFile, stat } from 'node:fs/promises';
import { startPipeline, type Pipeline } from '../../bin/pipeline.ts';
import { JobRunner, startJobSystem, type JobSystem } from '../../processors/jobs/job-runner.ts';
import { startPredictionsProcessor, type PredictionsProcessor } from '../../processors/predictions/predictions-processor.ts';
import { createClickHouseWriter } from '../../processors/clickhouse-sink.ts';
import type { Candle } from '../../schemas/generated/events.ts';
import { makeCandle, syntheticCandles } from '../unit/ml/synthetic-candles.ts';
import { bearer, eventually, testEnv } from '../support/env.ts';

interface JobView {
  job_id: string; type: string; status: string; stop_requested: boolean; error: string | null; backend: string | null;
  progress: { epoch: number | null; epochs: number | null; loss: number | null; val_loss: number | null; elapsed_ms: number; eta_ms: number | null; fraction: number; window: number | null } | null;
  result: Record<string, unknown> | null;
}
interface StatusAnswer { job: JobView | null; jobs: JobView[] }

const MINUTE = 60_000;
const HOUR = 3_600_000;

describe('job system: training, predictions, stop, backtests, artifacts', () => {
  const t = testEnv({ TICKFLOW_ROLES: 'processors,api' });
  let p: Pipeline;
  let jobs: JobSystem;
  let predictions: PredictionsProcessor;
  let api: string;
  const admin = () => ({ 'content-type': 'application/json', ...bearer(t, 'root', 'admin') });
  const user = () => ({ 'content-type': 'application/json', ...bearer(t, 'alice') });
  const post = (path: string, body: unknown, headers: Record<string, string>) => fetch(`${api}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const getJson = async <T>(path: string): Promise<T> => (await (await fetch(`${api}${path}`)).json()) as T;

  // History the training reads: minute candles up to the current minute.
  const end = Math.floor(Date.now() / MINUTE) * MINUTE;
  const history = syntheticCandles({ count: 400, seed: 11, symbol: 'BTC/USDT', interval: '1m', start: end - 400 * MINUTE });
  let trainedModelId = '';
  let trainingJobId = '';

  beforeAll(async () => {
    p = await startPipeline(t.config, t.log);
    api = p.apiUrl!;
    const parts = { config: p.config, log: t.log, kafka: p.kafka, codec: p.codec, producer: p.producer, publisher: p.publisher, clickhouse: p.store!.client };
    jobs = await startJobSystem(parts);
    predictions = await startPredictionsProcessor(parts);
    // The same write the sink does for analytics.candles.v1.
    await createClickHouseWriter(p.store!.client)(history.map((value, i) => ({ topicId: 'candles', partition: 0, offset: String(i), key: 'BTC/USDT:1m', value })));
  });
  afterAll(async () => {
    await predictions?.stop();
    await jobs?.stop();
    await p?.stop();
  }, 240_000);

  it('trains a model through the job system, lists it with metrics, and then predicts with it', async () => {
    const body = { symbol: 'BTC/USDT', interval: '1m', horizon: 1, epochs: 3, lookback: 4, hidden_units: 8, batch_size: 32 };
    expect((await post('/api/v1/train/start', body, { 'content-type': 'application/json' })).status).toBe(401);
    expect((await post('/api/v1/train/start', body, user())).status).toBe(403);
    const bad = await post('/api/v1/train/start', { ...body, epochs: 0 }, admin());
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('epochs');

    const started = await post('/api/v1/train/start', body, admin());
    expect(started.status).toBe(202);
    const accepted = (await started.json()) as { job_id: string; status: string; type: string; status_url: string };
    expect(accepted).toMatchObject({ status: 'queued', type: 'training' });
    trainingJobId = accepted.job_id;

    const done = await eventually('training completed', async () => {
      const s = await getJson<StatusAnswer>(`/api/v1/train/status?job_id=${trainingJobId}`);
      return s.job && ['completed', 'failed', 'stopped'].includes(s.job.status) ? s.job : null;
    }, 120_000);
    expect(done.error).toBeNull();
    expect(done.status).toBe('completed');
    expect(['tensorflow', 'wasm', 'cpu']).toContain(done.backend);
    expect(done.progress).toMatchObject({ epoch: 3, epochs: 3, fraction: 1, eta_ms: 0 });
    expect(done.progress!.loss).toBeGreaterThan(0);
    expect(done.progress!.val_loss).toBeGreaterThan(0);
    expect(done.progress!.elapsed_ms).toBeGreaterThan(0);
    trainedModelId = String(done.result!.model_id);
    expect(done.result).toMatchObject({ activated: true, epochs_run: 3, epochs_requested: 3 });

    // Every step is an event in control_events: accepted, started, per-epoch progress, finished.
    const rs = await p.store!.client.query({
      query: `SELECT kind, JSONExtractInt(payload_json, 'progress', 'epoch') AS epoch FROM control_events FINAL WHERE source = {s:String} ORDER BY event_time`,
      query_params: { s: `job:${trainingJobId}` }, format: 'JSONEachRow',
    });
    const events = await rs.json<{ kind: string; epoch: string | number }>();
    expect(events[0]!.kind).toBe('job.accepted');
    expect(events[1]!.kind).toBe('job.started');
    expect(events.at(-1)!.kind).toBe('job.finished');
    expect(events.filter((e) => e.kind === 'job.progress').map((e) => Number(e.epoch)).filter((n) => n > 0).length).toBeGreaterThan(0);

    // The other training route set shows the same job.
    const viaPredictions = await getJson<StatusAnswer>(`/api/v1/predictions/train/status?job_id=${trainingJobId}`);
    expect(viaPredictions.job).toMatchObject({ job_id: trainingJobId, status: 'completed' });

    const models = await getJson<{ models: Array<{ model_id: string; active: boolean; symbol: string; backend: string; metrics: { samples: number; mae: number; rmse: number } }>; active: Record<string, string> }>('/api/v1/models');
    const model = models.models.find((m) => m.model_id === trainedModelId)!;
    expect(model).toMatchObject({ symbol: 'BTC/USDT', active: true, backend: done.backend });
    expect(model.metrics.samples).toBeGreaterThan(0);
    expect(model.metrics.mae).toBeGreaterThan(0);
    expect(models.active['BTC/USDT']).toBe(trainedModelId);
    const metrics = await getJson<{ model_id: string; metrics: { rmse: number }; history: Array<{ epoch: number; loss: number }> }>(`/api/v1/models/${trainedModelId}/metrics`);
    expect(metrics.metrics.rmse).toBeGreaterThan(0);
    expect(metrics.history.map((h) => h.epoch)).toEqual([1, 2, 3]);
    expect((await fetch(`${api}/api/v1/models/no-such-model/metrics`)).status).toBe(404);

    expect((await fetch(`${api}/api/v1/predictions/BTC-USDT`)).status).toBe(404);
    // New final candles on analytics.candles.v1: the predictions processor predicts at each.
    let last = history[history.length - 1]!;
    const prediction = await eventually('a prediction for BTC/USDT', async () => {
      const next = makeCandle({ symbol: 'BTC/USDT', interval: '1m', openTime: last.open_time + MINUTE, open: last.close, close: last.close * 1.001 });
      last = next;
      await p.publisher.publish('candles', [{ key: 'BTC/USDT:1m', value: next }]);
      const r = await fetch(`${api}/api/v1/predictions/BTC-USDT`);
      return r.status === 200 ? ((await r.json()) as { model_id: string; confidence: number; backend: string; direction: string; horizon: number; price: number; symbol: string }) : null;
    }, 60_000, 1000);
    expect(prediction).toMatchObject({ symbol: 'BTC/USDT', model_id: trainedModelId, backend: done.backend, horizon: 1 });
    expect(['UP', 'DOWN', 'FLAT']).toContain(prediction.direction);
    expect(prediction.confidence).toBeGreaterThanOrEqual(0);
    expect(prediction.confidence).toBeLessThanOrEqual(1);
    expect(prediction.price).toBeGreaterThan(0);
    const ids = await (await p.store!.client.query({ query: 'SELECT count() AS n, uniqExact(event_id) AS u FROM predictions FINAL', format: 'JSONEachRow' })).json<{ n: string; u: string }>();
    expect(Number(ids[0]!.n)).toBe(Number(ids[0]!.u));
  }, 240_000);

  it('stops a running training job within the epoch that saw the request, and says so', async () => {
    const started = await post('/api/v1/predictions/train', { symbol: 'BTC/USDT', interval: '1m', epochs: 10_000, lookback: 4, hidden_units: 8, batch_size: 32 }, admin());
    expect(started.status).toBe(202);
    const { job_id: jobId } = (await started.json()) as { job_id: string };

    const running = await eventually('training running with progress', async () => {
      const s = await getJson<StatusAnswer>(`/api/v1/predictions/train/status?job_id=${jobId}`);
      return s.job?.status === 'running' && (s.job.progress?.epoch ?? 0) >= 1 ? s.job : null;
    }, 120_000);
    expect(running.progress).toMatchObject({ epochs: 10_000 });
    expect(running.progress!.loss).toBeGreaterThan(0);
    expect(running.progress!.eta_ms).toBeGreaterThan(0);
    // One job system: the ML group's status route shows the same running job.
    expect((await getJson<StatusAnswer>(`/api/v1/train/status?job_id=${jobId}`)).job?.status).toBe('running');

    expect((await post('/api/v1/predictions/train/stop', { job_id: jobId }, user())).status).toBe(403);
    const stop = await post('/api/v1/predictions/train/stop', { job_id: jobId }, admin());
    expect(stop.status).toBe(202);
    expect(((await stop.json()) as { jobs: JobView[] }).jobs).toMatchObject([{ job_id: jobId, stop_requested: true }]);

    const stopped = await eventually('training stopped', async () => {
      const s = await getJson<StatusAnswer>(`/api/v1/predictions/train/status?job_id=${jobId}`);
      return s.job && ['completed', 'failed', 'stopped'].includes(s.job.status) ? s.job : null;
    }, 60_000);
    expect(stopped.status).toBe('stopped');
    expect(stopped.stop_requested).toBe(true);
    const r = stopped.result as { epochs_run: number; epochs_requested: number; stop_observed_after_epochs: number; epoch_at_stop_request: number; activated: boolean };
    expect(r.epochs_requested).toBe(10_000);
    expect(r.epochs_run).toBeLessThan(10_000);
    // The epoch in progress when the worker saw the request was abandoned: no epoch ran after it.
    expect(r.epochs_run).toBe(r.stop_observed_after_epochs);
    expect(r.epochs_run).toBeGreaterThanOrEqual(r.epoch_at_stop_request);
    expect(r.activated).toBe(false);
    // The stopped model is kept but the completed one stays active.
    const models = await getJson<{ models: Array<{ model_id: string; stopped: boolean; active: boolean }> }>('/api/v1/models');
    expect(models.models.find((m) => m.model_id === `${jobId}-model`)).toMatchObject({ stopped: true, active: false });
    expect(models.models.find((m) => m.model_id === trainedModelId)).toMatchObject({ active: true });
    // Nothing left to stop.
    expect((await post('/api/v1/predictions/train/stop', { job_id: jobId }, admin())).status).toBe(409);
    const none = await post('/api/v1/predictions/train/stop', {}, admin());
    expect(none.status).toBe(404);
    expect(((await none.json()) as { error: string }).error).toBe('no training job is queued or running');
  }, 240_000);

  it('backtests a strategy on a hand-made price series: known return, drawdown and trades', async () => {
    // SMA(2)/SMA(3) crossover. Opens are the previous close. The fast average crosses above at
    // candle 4 (close 12) -> long at candle 5's open 12; below at candle 8 -> flat at candle 9's
    // open 13; above at candle 11 -> long at 16, closed at the last close 20.
    // Return (no fees) = 13/12 * 20/16 - 1 = 17/48. Drawdown: peak 10000*16/12 at candle 6,
    // trough 10000*13/12 at candle 8: 1 - 13/16 = 0.1875.
    const closes = [10, 10, 10, 10, 12, 14, 16, 15, 13, 13, 13, 16, 18, 20];
    const start = Date.UTC(2025, 0, 1);
    const series: Candle[] = closes.map((close, i) => makeCandle({ symbol: 'SOL/USDT', interval: '1h', intervalMs: HOUR, openTime: start + i * HOUR, open: i ? closes[i - 1]! : 10, close }));
    await createClickHouseWriter(p.store!.client)(series.map((value, i) => ({ topicId: 'candles', partition: 0, offset: String(i), key: 'SOL/USDT:1h', value })));
    const body = { strategy: 'ma_crossover', params: { ma_type: 'sma', fast: 2, slow: 3 }, symbol: 'SOL/USDT', interval: '1h', fee_bps: 0, slippage_bps: 0, monte_carlo_runs: 200 };

    expect((await post('/api/v1/signals/backtest', body, { 'content-type': 'application/json' })).status).toBe(401);
    const badParam = await post('/api/v1/signals/backtest', { ...body, params: { ma_type: 'sma', fast: 1, slow: 3 } }, user());
    expect(badParam.status).toBe(400);
    expect(((await badParam.json()) as { error: string }).error).toContain('"fast"');
    const badStrategy = await post('/api/v1/signals/backtest', { ...body, strategy: 'astrology' }, user());
    expect(badStrategy.status).toBe(400);
    expect(((await badStrategy.json()) as { error: string }).error).toContain('body/strategy');
    const badFee = await post('/api/v1/signals/backtest', { ...body, fee_bps: -1 }, user());
    expect(badFee.status).toBe(400);
    expect(((await badFee.json()) as { error: string }).error).toContain('fee_bps');

    type Answer = { job_id: string; status: string; metrics: { total_return: number; max_drawdown: number; trades: number; win_rate: number; final_equity: number }; trades: Array<{ entry_price: number; exit_price: number; exit_reason: string; side: string }>; monte_carlo: { runs: number; total_return: { p5: number; p50: number; p95: number } }; artifacts: Array<{ name: string }> };
    const res = await post('/api/v1/signals/backtest', body, user());
    expect(res.status).toBe(200);
    const a = (await res.json()) as Answer;
    expect(a.status).toBe('completed');
    expect(a.metrics.total_return).toBeCloseTo(17 / 48, 10);
    expect(a.metrics.max_drawdown).toBeCloseTo(0.1875, 10);
    expect(a.metrics.trades).toBe(2);
    expect(a.metrics.win_rate).toBe(1);
    expect(a.trades.map((x) => [x.side, x.entry_price, x.exit_price, x.exit_reason])).toEqual([['LONG', 12, 13, 'signal'], ['LONG', 16, 20, 'end']]);
    expect(a.monte_carlo.runs).toBe(200);
    expect(a.artifacts.map((x) => x.name).sort()).toEqual(['equity.csv', 'equity.png', 'metrics.json', 'trades.csv']);

    // With 10 bps per side: each trade keeps (1 - 0.001)^2 of its gross ratio.
    const withFees = (await (await post('/api/v1/signals/backtest', { ...body, fee_bps: 10 }, user())).json()) as Answer;
    expect(withFees.metrics.total_return).toBeCloseTo(0.999 ** 4 * (13 / 12) * (20 / 16) - 1, 10);
    expect(withFees.metrics.trades).toBe(2);
    // Seeded Monte Carlo: the same request gives the same intervals.
    const again = (await (await post('/api/v1/signals/backtest', body, user())).json()) as Answer;
    expect(again.job_id).not.toBe(a.job_id);
    expect(again.monte_carlo).toEqual(a.monte_carlo);

    // The run is a job like the others.
    const status = await getJson<StatusAnswer>(`/api/v1/backtest/status?job_id=${a.job_id}`);
    expect(status.job).toMatchObject({ job_id: a.job_id, type: 'strategy_backtest', status: 'completed' });

    // A range with no candles fails the job with the reason.
    const empty = await post('/api/v1/signals/backtest', { ...body, from: Date.UTC(2020, 0, 1), to: Date.UTC(2020, 0, 2) }, user());
    expect(empty.status).toBe(422);
    expect(((await empty.json()) as { error: string }).error).toContain('no final SOL/USDT 1h candles');
  }, 240_000);

  it('runs a walk-forward backtest as a job with per-window results', async () => {
    const body = { symbol: 'BTC/USDT', interval: '1m', to: end, train_size: 150, test_size: 100, epochs: 2, lookback: 4, hidden_units: 8, fee_bps: 10 };
    expect((await post('/api/v1/backtest/run', body, user())).status).toBe(403);
    const started = await post('/api/v1/backtest/run', body, admin());
    expect(started.status).toBe(202);
    const { job_id: jobId } = (await started.json()) as { job_id: string };
    const done = await eventually('walk-forward completed', async () => {
      const s = await getJson<StatusAnswer>(`/api/v1/backtest/status?job_id=${jobId}`);
      return s.job && ['completed', 'failed', 'stopped'].includes(s.job.status) ? s.job : null;
    }, 120_000);
    expect(done.error).toBeNull();
    expect(done.status).toBe('completed');
    expect(done.progress).toMatchObject({ fraction: 1 });
    const result = done.result as { windows: Array<{ index: number; prediction: { samples: number }; strategy: { trades: number } }>; overall: { prediction: { directional_accuracy: number }; strategy: { max_drawdown: number } } };
    // The 400 history candles (to: end), windows of 150 + 100 stepping by 100: tests start at 150 and 250.
    expect(result.windows.map((w) => w.index)).toEqual([1, 2]);
    expect(result.windows.every((w) => w.prediction.samples > 0)).toBe(true);
    expect(result.overall.prediction.directional_accuracy).toBeGreaterThanOrEqual(0);
    expect(result.overall.strategy.max_drawdown).toBeGreaterThanOrEqual(0);
  }, 240_000);

  it('lists artifacts that exist on disk, and the charts are PNG images', async () => {
    const listed = await getJson<{ artifacts: Array<{ run_id: string; name: string; path: string; url: string; kind: string; content_type: string; size_bytes: number }>; runs: number }>('/api/v1/artifacts');
    const runIds = new Set(listed.artifacts.map((x) => x.run_id));
    expect(runIds.has(trainingJobId)).toBe(true);
    expect(listed.runs).toBeGreaterThanOrEqual(3);
    for (const artifact of listed.artifacts) {
      const info = await stat(artifact.path);
      expect(info.isFile()).toBe(true);
      expect(info.size).toBe(artifact.size_bytes);
    }
    const charts = listed.artifacts.filter((x) => x.kind === 'chart');
    expect(charts.length).toBeGreaterThanOrEqual(3);
    for (const chart of charts) {
      expect(chart.content_type).toBe('image/png');
      const fh = await open(chart.path, 'r');
      const head = Buffer.alloc(24);
      await fh.read(head, 0, 24, 0);
      await fh.close();
      expect([...head.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      expect(head.subarray(12, 16).toString('ascii')).toBe('IHDR');
      expect(head.readUInt32BE(16)).toBeGreaterThan(0);
      expect(head.readUInt32BE(20)).toBeGreaterThan(0);
    }
    // The API serves the same bytes.
    const served = await fetch(`${api}${charts[0]!.url}`);
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await served.arrayBuffer()).equals(await readFile(charts[0]!.path))).toBe(true);
    const metrics = listed.artifacts.find((x) => x.run_id === trainingJobId && x.name === 'metrics.json')!;
    expect(JSON.parse(await readFile(metrics.path, 'utf8'))).toMatchObject({ run_id: trainingJobId, kind: 'training', model_id: trainedModelId });
    expect((await fetch(`${api}/api/v1/artifacts/${trainingJobId}/nope.png`)).status).toBe(404);

    // Every route of the group is in the OpenAPI document, with its schemas.
    const openapi = await getJson<{ paths: Record<string, Record<string, unknown>> }>('/api/v1/openapi.json');
    for (const path of ['/api/v1/train/start', '/api/v1/train/status', '/api/v1/backtest/run', '/api/v1/backtest/status', '/api/v1/models', '/api/v1/models/{model_id}/metrics', '/api/v1/artifacts', '/api/v1/predictions/{symbol}', '/api/v1/predictions/train', '/api/v1/predictions/train/stop', '/api/v1/predictions/train/status', '/api/v1/signals/backtest']) {
      expect(Object.keys(openapi.paths), path).toContain(path);
    }
  }, 240_000);

  it('skips a replayed start command, and closes the jobs a crashed runner left running', async () => {
    const count = async (jobId: string) => Number((await (await p.store!.client.query({
      query: 'SELECT count() AS n FROM control_events FINAL WHERE source = {s:String}', query_params: { s: `job:${jobId}` }, format: 'JSONEachRow',
    })).json<{ n: string }>())[0]!.n);
    const before = await count(trainingJobId);
    // The original train.start again (as a replay after a crash would deliver it), then a new job
    // behind it on the one-partition topic: once the new one is done, the replay was handled.
    const rs = await p.store!.client.query({ query: 'SELECT event_id, params_json FROM commands FINAL WHERE event_id = {id:String}', query_params: { id: `command:${trainingJobId}:train.start` }, format: 'JSONEachRow' });
    const [original] = await rs.json<{ event_id: string; params_json: string }>();
    expect(original).toBeDefined();
    const now = Date.now();
    await p.publisher.publish('commands', [{ key: 'jobs', value: { event_id: original!.event_id, event_type: 'command', schema_version: 1, event_time: now, ingest_time: now, target: 'jobs', command: 'train.start', params_json: original!.params_json, requested_by: 'root' } }]);
    const sentinel = await post('/api/v1/signals/backtest', { strategy: 'ma_crossover', params: { ma_type: 'sma', fast: 2, slow: 3 }, symbol: 'SOL/USDT', interval: '1h' }, user());
    expect(sentinel.status).toBe(200);
    expect(await count(trainingJobId)).toBe(before);

    // A job whose runner died mid-run: its last event says running. A starting runner closes it.
    const ghost = { job_id: 'ghost-job', type: 'training', status: 'running', seq: 2, command_id: 'command:ghost-job:train.start', requested_by: 'root', symbol: 'BTC/USDT', interval: '1m', params: {}, created_at: now, started_at: now, finished_at: null, backend: 'wasm', progress: null, stop_requested: false, result: null, error: null };
    await p.publisher.publish('controlEvents', [{ key: 'job:ghost-job', value: { event_id: 'job:ghost-job:2', event_type: 'control', schema_version: 1, event_time: now, ingest_time: now, source: 'job:ghost-job', kind: 'job.started', command_id: ghost.command_id, payload_json: JSON.stringify(ghost) } }]);
    await eventually('ghost job visible as running', async () => (await getJson<StatusAnswer>('/api/v1/train/status?job_id=ghost-job')).job?.status === 'running');
    const restarted = new JobRunner({ config: p.config, log: t.log, kafka: p.kafka, codec: p.codec, producer: p.producer, publisher: p.publisher, clickhouse: p.store!.client });
    await restarted.recover();
    const closed = await eventually('ghost job closed', async () => {
      const job = (await getJson<StatusAnswer>('/api/v1/train/status?job_id=ghost-job')).job;
      return job?.status === 'failed' ? job : null;
    });
    expect(closed.error).toContain('interrupted');
    expect(restarted.activeJobIds()).toEqual([]);
  }, 240_000);

});
