// POST /api/v1/signals/backtest: a strategy backtest, run by the job runner like every other job
// (strategy_backtest.run on control.commands.v1, in a worker), answered with the result when the
// job finishes within wait_ms, otherwise 202 with the job to follow on /api/v1/backtest/status.
// The other /signals routes live in routes/signals.ts.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { requireUser } from '../auth.ts';
import { HttpError } from '../context.ts';
import { ErrorAnswer, finiteJson, JobAccepted, startJob } from '../job-commands.ts';
import { JOB_COMMANDS, StrategyBacktestFields } from '../../processors/jobs/job-contract.ts';
import { readJobs } from '../../processors/jobs/job-status.ts';
import { createStrategy } from '../../processors/signals/strategy-registry.ts';
import { StrategyParamError } from '../../processors/signals/strategy.ts';

const N = Type.Union([Type.Number(), Type.Null()]);
const Percentiles = Type.Object({ p5: N, p50: N, p95: N });

const BacktestAnswer = Type.Object({
  job_id: Type.String(),
  status: Type.Literal('completed'),
  strategy: Type.String(),
  params: Type.Record(Type.String(), Type.Union([Type.Number(), Type.String()])),
  symbol: Type.String(),
  interval: Type.String(),
  range: Type.Object({ from: Type.Integer(), to: Type.Integer(), candles: Type.Integer(), warmup_candles: Type.Integer() }),
  metrics: Type.Object({
    initial_capital: Type.Number(), final_equity: Type.Number(), total_return: Type.Number(), cagr: N, sharpe: N, sortino: N,
    max_drawdown: Type.Number(), win_rate: Type.Number(), trades: Type.Integer(), exposure: Type.Number(), bars: Type.Integer(),
    periods_per_year: Type.Number(), buy_and_hold_return: Type.Number(),
  }),
  monte_carlo: Type.Union([Type.Object({ runs: Type.Integer(), seed: Type.Integer(), trades_per_run: Type.Integer(), total_return: Percentiles, max_drawdown: Percentiles }), Type.Null()]),
  trades: Type.Array(Type.Object({
    side: Type.String(), entry_time: Type.Integer(), entry_price: Type.Number(), exit_time: Type.Integer(), exit_price: Type.Number(),
    return: Type.Number(), pnl: Type.Number(), bars_held: Type.Integer(), exit_reason: Type.String(),
  }), { description: 'The first 500 trades; all of them are in the run\'s trades.csv artifact' }),
  trades_total: Type.Integer(),
  artifacts: Type.Array(Type.Object({ name: Type.String(), relative_path: Type.String(), kind: Type.String() })),
});

export const signalsBacktestRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = app.deps;

  app.post('/backtest', {
    preHandler: requireUser,
    schema: {
      tags: ['signals'], summary: 'Backtest a strategy of the signals registry over a symbol, interval and date range', security: [{ bearer: [] }],
      body: Type.Object({
        ...StrategyBacktestFields,
        wait_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 120_000, default: 30_000, description: 'How long to wait for the result before answering 202 with the job' })),
      }, { additionalProperties: false }),
      response: { 200: BacktestAnswer, 202: JobAccepted, 400: ErrorAnswer, 401: ErrorAnswer, 422: ErrorAnswer },
    },
  }, async (req, reply) => {
    const { wait_ms: waitMs = 30_000, ...fields } = req.body;
    if (fields.from !== undefined && fields.to !== undefined && fields.from >= fields.to) throw new HttpError(400, 'body/to must be after body/from');
    try {
      createStrategy(fields.strategy, fields.params ?? {});
    } catch (error) {
      if (error instanceof StrategyParamError) throw new HttpError(400, `body/${/unknown strategy/.test(error.message) ? 'strategy' : 'params'}: ${error.message}`);
      throw error;
    }
    const job = await startJob(deps, 'strategy_backtest', JOB_COMMANDS.strategyBacktestRun, fields, req.user!.id, '/backtest/status', 'strategy');
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      const [projected] = await readJobs(deps.clickhouse, { jobId: job.job_id, limit: 1 });
      const s = projected?.snapshot;
      if (!s) continue;
      if (s.status === 'failed') throw new HttpError(422, `backtest ${job.job_id} failed: ${s.error ?? 'unknown error'}`);
      if (s.status === 'completed' && s.result) {
        return finiteJson({ job_id: job.job_id, status: 'completed' as const, symbol: s.symbol, interval: s.interval, ...s.result }) as Static<typeof BacktestAnswer>;
      }
      if (s.status === 'stopped') throw new HttpError(422, `backtest ${job.job_id} was stopped`);
    }
    return reply.code(202).send(job);
  });
};
