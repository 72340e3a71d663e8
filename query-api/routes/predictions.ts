// /api/v1/predictions: the latest prediction per symbol (from the predictions table, which the
// sink fills from analytics.predictions.v1), and the seed's second training route set. Training
// here is the same job as /train/start: the same train.start / train.stop commands, the same
// status projection (see query-api/job-commands.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAdmin } from '../auth.ts';
import { HttpError } from '../context.ts';
import { parseSymbol } from '../symbols.ts';
import { ErrorAnswer, JobAccepted, JobStatus, jobStatusAnswer, JobStatusAnswer, JobStatusQuery, startJob, stopTraining } from '../job-commands.ts';
import { JOB_COMMANDS, JOB_ID_PATTERN, TrainStartFields } from '../../processors/jobs/job-contract.ts';

const PredictionAnswer = Type.Object({
  symbol: Type.String(),
  interval: Type.String(),
  horizon: Type.Integer({ description: 'Candles ahead' }),
  model_id: Type.String(),
  predicted_return: Type.Number({ description: 'Predicted log return over the horizon' }),
  direction: Type.Union([Type.Literal('UP'), Type.Literal('DOWN'), Type.Literal('FLAT')]),
  confidence: Type.Number({ description: 'The model\'s probability (0..1) that the direction is right' }),
  price: Type.Number({ description: 'Close the prediction was made from' }),
  backend: Type.String({ description: 'tfjs backend the model ran on' }),
  event_time: Type.String({ format: 'date-time', description: 'Close time of the candle the prediction was made at' }),
  age_ms: Type.Integer(),
});

interface PredictionRow {
  symbol: string; interval: string; horizon: number; model_id: string; predicted_return: number; direction: 'UP' | 'DOWN' | 'FLAT';
  confidence: number; price: number; backend: string; t: string | number;
}

export const predictionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = app.deps;

  app.post('/train', {
    preHandler: requireAdmin,
    schema: {
      tags: ['predictions'], summary: 'Start model training (admin); the same job as POST /api/v1/train/start', security: [{ bearer: [] }],
      body: Type.Object(TrainStartFields, { additionalProperties: false }),
      response: { 202: JobAccepted, 400: ErrorAnswer, 401: ErrorAnswer, 403: ErrorAnswer },
    },
  }, async (req, reply) => reply.code(202).send(await startJob(deps, 'training', JOB_COMMANDS.trainStart, req.body, req.user!.id, '/predictions/train/status', 'train')));

  app.post('/train/stop', {
    preHandler: requireAdmin,
    schema: {
      tags: ['predictions'], summary: 'Stop model training (admin): the named job, or every queued or running one', security: [{ bearer: [] }],
      body: Type.Optional(Type.Object({ job_id: Type.Optional(Type.String({ pattern: JOB_ID_PATTERN })) }, { additionalProperties: false })),
      response: { 202: Type.Object({ jobs: Type.Array(JobStatus, { description: 'The jobs asked to stop; their status turns stopped within an epoch' }) }), 401: ErrorAnswer, 403: ErrorAnswer, 404: ErrorAnswer, 409: ErrorAnswer },
    },
  }, async (req, reply) => reply.code(202).send({ jobs: await stopTraining(deps, req.body?.job_id, req.user!.id) }));

  app.get('/train/status', {
    schema: {
      tags: ['predictions'], summary: 'Training status and progress; the same jobs as GET /api/v1/train/status',
      querystring: JobStatusQuery,
      response: { 200: JobStatusAnswer, 404: ErrorAnswer },
    },
  }, async (req) => jobStatusAnswer(deps.clickhouse, ['training'], req.query));

  app.get('/:symbol', {
    schema: {
      tags: ['predictions'], summary: 'The latest prediction for a symbol (BTC-USDT in paths)',
      params: Type.Object({ symbol: Type.String({ maxLength: 64 }) }),
      querystring: Type.Object({
        horizon: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
        interval: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}[smhdw]$' })),
      }, { additionalProperties: false }),
      response: { 200: PredictionAnswer, 400: ErrorAnswer, 404: ErrorAnswer },
    },
  }, async (req) => {
    const symbol = parseSymbol(req.params.symbol);
    const rs = await deps.clickhouse.query({
      query: `SELECT symbol, interval, horizon, model_id, predicted_return, direction, confidence, price, backend, toUnixTimestamp64Milli(event_time) AS t
              FROM predictions FINAL
              WHERE symbol = {s:String} AND ({h:UInt32} = 0 OR horizon = {h:UInt32}) AND ({i:String} = '' OR interval = {i:String})
              ORDER BY event_time DESC, ingest_time DESC
              LIMIT 1`,
      query_params: { s: symbol, h: req.query.horizon ?? 0, i: req.query.interval ?? '' },
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<PredictionRow>();
    if (!row) throw new HttpError(404, `no prediction for ${symbol} yet: train a model for it (POST /api/v1/predictions/train)`);
    const t = Number(row.t);
    return { ...row, horizon: Number(row.horizon), event_time: new Date(t).toISOString(), age_ms: Math.max(0, Date.now() - t) };
  });
};
