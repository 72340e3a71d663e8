// The predictions processor: on every final all-exchange (`*`) candle, if the candle's symbol has
// an active model for that interval, predict from the candle's history and publish a Prediction
// on analytics.predictions.v1 (key symbol:horizon). The event id is the model and the candle, so
// a replay republishes the same facts and the predictions table dedupes them.
//
// Reads: analytics.candles.v1 (group tickflow-predictions), the candles table (history before
// the batch), the model registry (<home>/models). Writes: analytics.predictions.v1. State: none
// beyond the registry's cache of loaded models.
import type { ClickHouseClient } from '@clickhouse/client';
import type { Logger } from '../../runtime/logger.ts';
import type { Candle, Prediction } from '../../schemas/generated/events.ts';
import { ConsumerRunner, type ConsumedRecord } from '../consumer-runner.ts';
import { latestFinalPerOpenTime } from '../indicators/indicator-set.ts';
import { computeFeatureTable } from '../ml/features.ts';
import { ModelRegistry } from '../ml/model-registry.ts';
import { predictTable, toPredictionFields, type TrainedModel } from '../ml/model.ts';
import { loadFinalCandles } from '../jobs/candle-history.ts';
import { modelsRoot, type JobSystemDeps } from '../jobs/job-runner.ts';

/** The same parts the job system gets, from the same composition root. */
export interface PredictionsProcessorDeps extends Omit<JobSystemDeps, 'concurrency'> {
  /**
   * Default false: a new consumer group starts at the live end, since predicting years of old
   * candles with today's model says nothing. Restarts resume from committed offsets either way.
   */
  fromBeginning?: boolean;
}

export interface PredictionsProcessor {
  runner: ConsumerRunner;
  stop(): Promise<void>;
}

export const PREDICTION_EVENT_TYPE = 'prediction';

export async function startPredictionsProcessor(deps: PredictionsProcessorDeps): Promise<PredictionsProcessor> {
  const log = deps.log.child({ component: 'predictions' });
  const registry = new ModelRegistry(modelsRoot(deps.config));
  const runner = new ConsumerRunner({
    name: 'predictions',
    groupId: `${deps.config.kafka.topicPrefix}tickflow-predictions`,
    topics: ['candles'],
    ctx: deps.kafka,
    codec: deps.codec,
    producer: deps.producer,
    log,
    fromBeginning: deps.fromBeginning ?? false,
    maxWaitMs: 100,
    write: async (records) => {
      const predictions = await predictBatch(records, registry, deps.clickhouse, log);
      if (predictions.length) await deps.publisher.publish('predictions', predictions.map((p) => ({ key: `${p.symbol}:${p.horizon}`, value: p })));
    },
  });
  await runner.start();
  return { runner, stop: () => runner.stop() };
}

/** Predictions for the final `*` candles of a batch whose symbol has an active model of their interval. */
export async function predictBatch(records: readonly ConsumedRecord[], registry: ModelRegistry, clickhouse: ClickHouseClient, log: Logger): Promise<Prediction[]> {
  const bySeries = new Map<string, Candle[]>();
  for (const r of records) {
    const c = r.value as Candle;
    if (c.exchange !== '*' || !c.is_final) continue;
    const key = `${c.symbol}\u0000${c.interval}`;
    let list = bySeries.get(key);
    if (!list) bySeries.set(key, (list = []));
    list.push(c);
  }
  if (bySeries.size === 0) return [];
  const active = await registry.listActive();
  const out: Prediction[] = [];
  for (const batch of bySeries.values()) {
    const { symbol, interval } = batch[0]!;
    const entry = active[symbol];
    if (!entry) continue;
    let model: TrainedModel;
    try {
      model = await registry.load(entry.model_id);
    } catch (error) {
      log.warn({ symbol, model_id: entry.model_id, err: (error as Error).message }, 'active model cannot be loaded; no predictions');
      continue;
    }
    const meta = model.metadata;
    if (meta.interval !== interval) continue;
    const candles = latestFinalPerOpenTime(batch);
    const first = candles[0]!.open_time;
    // Enough history for the features' warm-up to settle as it did in training.
    const history = await loadFinalCandles(clickhouse, { symbol, interval, to: first, limit: Math.max(300, meta.min_candles * 4) });
    const series = [...history, ...candles];
    const table = computeFeatureTable(series, meta.feature_config);
    const { times, results } = await predictTable(model, table, first);
    const wanted = new Map(candles.map((c) => [c.open_time, c]));
    results.forEach((result, i) => {
      const candle = wanted.get(times[i]!);
      if (!candle) return;
      out.push({
        event_id: `prediction:${meta.model_id}:${symbol}:${interval}:${candle.open_time}`,
        event_type: PREDICTION_EVENT_TYPE,
        schema_version: 1,
        event_time: candle.close_time,
        ingest_time: Date.now(),
        ...toPredictionFields(meta, result),
      });
    });
  }
  return out;
}
