// Prediction alerts in the running pipeline: a definition on the compacted topic, predictions on
// analytics.predictions.v1, one trigger for the owner when a prediction matches (once-only).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startPipeline, type Pipeline } from '../../bin/pipeline.ts';
import type { Prediction } from '../../schemas/generated/events.ts';
import { testEnv, eventually } from '../support/env.ts';
import { PredictionAlerts } from '../../processors/prediction-alerts.ts';
import { alertCreated } from '../support/market-script.ts';

describe('prediction alerts', () => {
  const t = testEnv({ TICKFLOW_ROLES: 'processors' });
  let p: Pipeline;
  beforeAll(async () => {
    p = await startPipeline(t.config, t.log);
  });
  afterAll(async () => { await p?.stop(); });

  it('fires once for the first prediction that matches direction and confidence', async () => {
    await p.publisher.publish('alertEvents', [{ key: 'pa1', value: alertCreated('pa1', 'carol', 'prediction', { direction: 'UP', min_confidence: '0.6' }) }]);
    // An instance started now has the definition before its first prediction (it reads the
    // compacted topic to the end on start); its own group sees every prediction. The pipeline's
    // instance may fire too: trigger ids are deterministic, so that is still one trigger.
    const fresh = new PredictionAlerts({ ctx: p.kafka, codec: p.codec, producer: p.producer, publisher: p.publisher, clickhouse: p.store!.client, log: t.log, groupId: `${t.prefix}prediction-alerts-test` });
    await fresh.start();
    p.lifecycle.onShutdown('prediction alerts (test)', () => fresh.stop());
    const now = Date.now();
    const pred = (i: number, direction: Prediction['direction'], confidence: number): Prediction => ({
      event_id: `prediction:test:${i}`, event_type: 'prediction', schema_version: 1, event_time: now + i * 60_000, ingest_time: now + i * 60_000,
      symbol: 'BTC/USDT', interval: '1m', horizon: 1, model_id: 'm1', predicted_return: direction === 'UP' ? 0.01 : -0.01, direction, confidence, price: 65_000, backend: 'wasm',
    });
    await p.publisher.publish('predictions', [pred(1, 'DOWN', 0.9), pred(2, 'UP', 0.5), pred(3, 'UP', 0.8), pred(4, 'UP', 0.95)].map((v) => ({ key: 'BTC/USDT:1', value: v })));
    const rows = await eventually('a trigger', async () => {
      const r = await (await p.store!.client.query({ query: `SELECT alert_id, user_id, event_id FROM alert_triggers FINAL WHERE alert_id = 'pa1'`, format: 'JSONEachRow' })).json<{ alert_id: string; user_id: string; event_id: string }>();
      return r.length ? r : null;
    });
    await new Promise((r) => setTimeout(r, 1500));
    const again = await (await p.store!.client.query({ query: `SELECT count() AS n FROM alert_triggers FINAL WHERE alert_id = 'pa1'`, format: 'JSONEachRow' })).json<{ n: string }>();
    expect(Number(again[0]!.n)).toBe(1);
    expect(rows[0]).toMatchObject({ user_id: 'carol' });
    expect(rows[0]!.event_id).toContain('prediction:test:3');
  });
});
