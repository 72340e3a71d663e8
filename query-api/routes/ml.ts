// The ML group of the seed, registered at /api/v1 without a sub-prefix: /train/start,
// /train/status, /backtest/run, /backtest/status, /models, /models/{model_id}/metrics,
// /artifacts (and /artifacts/{run_id}/{name} to fetch one file). Writes publish job commands on
// control.commands.v1 (the job runner carries them out); status comes from control_events;
// models and artifacts are read from <home>/models and <home>/artifacts, where the job runner
// writes them.
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAdmin } from '../auth.ts';
import { HttpError } from '../context.ts';
import { ErrorAnswer, finiteJson, JobAccepted, jobStatusAnswer, JobStatusAnswer, JobStatusQuery, startJob } from '../job-commands.ts';
import { JOB_COMMANDS, TrainStartFields, WalkForwardFields } from '../../processors/jobs/job-contract.ts';
import { artifactsRoot, modelsRoot } from '../../processors/jobs/job-runner.ts';
import { listArtifacts, runDir } from '../../processors/backtest/artifacts.ts';
import { ModelRegistry } from '../../processors/ml/model-registry.ts';
import type { ModelMetadata } from '../../processors/ml/model.ts';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const SAFE_ID = '^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$';

const Window = Type.Object({ from: Type.Integer(), to: Type.Integer(), samples: Type.Integer() });
const HeldOut = Type.Object({
  samples: Type.Integer(),
  mae: Nullable(Type.Number()),
  rmse: Nullable(Type.Number()),
  directional_accuracy: Nullable(Type.Number()),
  mae_zero_baseline: Nullable(Type.Number()),
}, { description: 'Scores on the held-out (latest) samples, in log-return units' });

const ModelSummary = Type.Object({
  model_id: Type.String(),
  symbol: Type.String(),
  symbols: Type.Array(Type.String()),
  interval: Type.String(),
  horizon: Type.Integer(),
  kind: Type.String(),
  lookback: Type.Integer(),
  features: Type.Array(Type.String()),
  backend: Type.String({ description: 'tfjs backend it was trained on: tensorflow, wasm or cpu' }),
  training_window: Window,
  validation_window: Window,
  metrics: HeldOut,
  hyperparameters: Type.Record(Type.String(), Type.Number()),
  stopped: Type.Boolean({ description: 'Training was stopped early (such a model is never activated)' }),
  created_at: Type.String({ format: 'date-time' }),
  active: Type.Boolean({ description: 'The model the predictions processor uses for its symbol' }),
});

const Artifact = Type.Object({
  run_id: Type.String(),
  name: Type.String(),
  relative_path: Type.String(),
  path: Type.String({ description: 'Absolute path on the job runner\'s disk' }),
  url: Type.String({ description: 'Where the API serves the file' }),
  kind: Type.String({ description: 'metrics, equity_curve, chart, data or other' }),
  content_type: Type.String(),
  size_bytes: Type.Integer(),
  created_at: Type.String({ format: 'date-time' }),
});

function summary(m: ModelMetadata, activeId: string | undefined) {
  return finiteJson({
    model_id: m.model_id, symbol: m.symbol, symbols: m.symbols, interval: m.interval, horizon: m.horizon, kind: m.kind, lookback: m.lookback,
    features: m.features, backend: m.backend, training_window: m.training_window, validation_window: m.validation_window, metrics: m.metrics,
    hyperparameters: m.hyperparameters, stopped: m.stopped, created_at: m.created_at, active: activeId === m.model_id,
  });
}

export const mlRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = app.deps;
  const registry = new ModelRegistry(modelsRoot(deps.config));
  const artifacts = artifactsRoot(deps.config);

  app.post('/train/start', {
    preHandler: requireAdmin,
    schema: {
      tags: ['train'], summary: 'Start a model training job (admin)', security: [{ bearer: [] }],
      body: Type.Object(TrainStartFields, { additionalProperties: false }),
      response: { 202: JobAccepted, 400: ErrorAnswer, 401: ErrorAnswer, 403: ErrorAnswer },
    },
  }, async (req, reply) => {
    const job = await startJob(deps, 'training', JOB_COMMANDS.trainStart, req.body, req.user!.id, '/train/status', 'train');
    return reply.code(202).send(job);
  });

  app.get('/train/status', {
    schema: {
      tags: ['train'], summary: 'Training job status and progress (epoch, loss, val_loss, elapsed, eta)',
      querystring: JobStatusQuery,
      response: { 200: JobStatusAnswer, 404: ErrorAnswer },
    },
  }, async (req) => jobStatusAnswer(deps.clickhouse, ['training'], req.query));

  app.post('/backtest/run', {
    preHandler: requireAdmin,
    schema: {
      tags: ['backtest'], summary: 'Run a walk-forward backtest of the model (admin: it trains a model per window)', security: [{ bearer: [] }],
      body: Type.Object(WalkForwardFields, { additionalProperties: false }),
      response: { 202: JobAccepted, 400: ErrorAnswer, 401: ErrorAnswer, 403: ErrorAnswer },
    },
  }, async (req, reply) => {
    const job = await startJob(deps, 'walk_forward', JOB_COMMANDS.backtestRun, req.body, req.user!.id, '/backtest/status', 'walk-forward');
    return reply.code(202).send(job);
  });

  app.get('/backtest/status', {
    schema: {
      tags: ['backtest'], summary: 'Backtest job status and progress (walk-forward and strategy backtests)',
      querystring: JobStatusQuery,
      response: { 200: JobStatusAnswer, 404: ErrorAnswer },
    },
  }, async (req) => jobStatusAnswer(deps.clickhouse, ['walk_forward', 'strategy_backtest'], req.query));

  app.get('/models', {
    schema: {
      tags: ['models'], summary: 'Every saved model with its metadata and held-out metrics, newest first',
      querystring: Type.Object({ symbol: Type.Optional(Type.String({ pattern: '^[A-Z0-9]{1,20}[/-][A-Z0-9]{1,20}$' })) }, { additionalProperties: false }),
      response: { 200: Type.Object({ models: Type.Array(ModelSummary), active: Type.Record(Type.String(), Type.String(), { description: 'symbol -> active model id' }) }) },
    },
  }, async (req) => {
    const symbol = req.query.symbol?.replace('-', '/');
    const [models, active] = await Promise.all([registry.list(), registry.listActive()]);
    return {
      models: models.filter((m) => !symbol || m.symbols.includes(symbol)).map((m) => summary(m, active[m.symbol]?.model_id)),
      active: Object.fromEntries(Object.entries(active).map(([s, e]) => [s, e.model_id])),
    };
  });

  app.get('/models/:model_id/metrics', {
    schema: {
      tags: ['models'], summary: 'Detailed metrics of one model: held-out scores, windows, hyperparameters, training history',
      params: Type.Object({ model_id: Type.String({ pattern: SAFE_ID }) }),
      response: {
        200: Type.Object({
          ...ModelSummary.properties,
          flat_band: Nullable(Type.Number()),
          min_candles: Type.Integer(),
          history: Type.Array(Type.Object({ epoch: Type.Integer(), loss: Nullable(Type.Number()), val_loss: Nullable(Type.Number()), elapsed_ms: Type.Number() }), { description: 'Per-epoch losses from the training run\'s loss.csv, when its artifacts exist' }),
        }),
        404: ErrorAnswer,
      },
    },
  }, async (req) => {
    const meta = await registry.get(req.params.model_id);
    if (!meta) throw new HttpError(404, `no model ${req.params.model_id}`);
    const active = await registry.getActive(meta.symbol);
    return { ...summary(meta, active?.model_id), flat_band: finiteJson(meta.flat_band), min_candles: meta.min_candles, history: await trainingHistory(artifacts, meta.model_id) };
  });

  app.get('/artifacts', {
    schema: {
      tags: ['artifacts'], summary: 'Every saved run artifact (metrics JSON, equity CSV, equity chart PNG, data CSVs), newest run first',
      querystring: Type.Object({
        run_id: Type.Optional(Type.String({ pattern: SAFE_ID })),
        kind: Type.Optional(Type.Union([Type.Literal('metrics'), Type.Literal('equity_curve'), Type.Literal('chart'), Type.Literal('data'), Type.Literal('other')])),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ artifacts: Type.Array(Artifact), runs: Type.Integer() }) },
    },
  }, async (req) => {
    const all = (await listArtifacts(artifacts)).filter((a) => (!req.query.run_id || a.run_id === req.query.run_id) && (!req.query.kind || a.kind === req.query.kind));
    return {
      artifacts: all.map((a) => ({ ...a, url: `/api/v1/artifacts/${encodeURIComponent(a.run_id)}/${encodeURIComponent(a.name)}` })),
      runs: new Set(all.map((a) => a.run_id)).size,
    };
  });

  app.get('/artifacts/:run_id/:name', {
    schema: {
      tags: ['artifacts'], summary: 'One artifact file (the chart opens as an image)',
      params: Type.Object({ run_id: Type.String({ pattern: SAFE_ID }), name: Type.String({ pattern: SAFE_ID }) }),
      response: { 404: ErrorAnswer },
    },
  }, async (req, reply) => {
    const found = (await listArtifacts(artifacts)).find((a) => a.run_id === req.params.run_id && a.name === req.params.name);
    if (!found) throw new HttpError(404, `no artifact ${req.params.run_id}/${req.params.name}`);
    const file = `${runDir(artifacts, found.run_id)}/${found.name}`;
    await stat(file);
    return reply.type(found.content_type).header('content-length', found.size_bytes).send(createReadStream(file) as never);
  });
};

/** A training run's loss.csv (job id = model id minus "-model"), or [] when there is none. */
async function trainingHistory(root: string, modelId: string): Promise<Array<{ epoch: number; loss: number | null; val_loss: number | null; elapsed_ms: number }>> {
  if (!modelId.endsWith('-model')) return [];
  let text: string;
  try {
    text = await readFile(`${runDir(root, modelId.slice(0, -'-model'.length))}/loss.csv`, 'utf8');
  } catch {
    return [];
  }
  const num = (s: string | undefined): number | null => (s === undefined || s === '' || !Number.isFinite(Number(s)) ? null : Number(s));
  return text.trim().split('\n').slice(1).map((line) => {
    const [epoch, loss, val, elapsed] = line.split(',');
    return { epoch: Number(epoch), loss: num(loss), val_loss: num(val), elapsed_ms: num(elapsed) ?? 0 };
  });
}
