// A known tick sequence through the real broker, registry and chDB produces the expected
// candles, indicator values, signals and alert triggers in ClickHouse.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startPipeline, type Pipeline } from '../../bin/pipeline.ts';
import { testEnv, eventually } from '../support/env.ts';
import { scriptedTicks, referenceCandles, alertCreated, T0 } from '../support/market-script.ts';

const q = async <T>(p: Pipeline, query: string, params: Record<string, unknown> = {}) =>
  (await p.store!.client.query({ query, query_params: params, format: 'JSONEachRow' })).json<T>();

describe('market analytics on real services', () => {
  const t = testEnv({ TICKFLOW_ROLES: 'processors', PROCESSOR_CHECKPOINT_MS: '500' });
  let p: Pipeline;
  const ticks = scriptedTicks(90); // 540 ticks, 90 one-minute candles
  const ref1m = referenceCandles(ticks, 60_000);
  const finals = ref1m.slice(0, -1); // the last bucket has no later tick to close it

  beforeAll(async () => {
    p = await startPipeline(t.config, t.log);
    // An alert that must fire once when the price first crosses 105 (edge-triggered, once).
    await p.publisher.publish('alertEvents', [{ key: 'a1', value: alertCreated('a1', 'alice', 'price_above', { threshold: '105' }) }]);
    await p.analytics!.stop(); // restart so the definition is loaded from the compacted topic
    const { AnalyticsProcessor } = await import('../../processors/analytics-processor.ts');
    p.analytics = new AnalyticsProcessor({ ctx: p.kafka, codec: p.codec, producer: p.producer, publisher: p.publisher, clickhouse: p.store!.client, log: t.log, groupId: `${t.prefix}tickflow-analytics`, checkpointMs: 500 });
    await p.analytics.start();
    p.lifecycle.onShutdown('analytics (test)', () => p.analytics!.stop());
    await p.publisher.publish('ticks', ticks.map((v) => ({ key: `${v.exchange}:${v.symbol}`, value: v })));
  });
  afterAll(async () => { await p?.stop(); });

  it('builds the expected final 1m candles, per exchange and across exchanges', async () => {
    const rows = await eventually('89 final 1m candles', async () => {
      const r = await q<{ open_time: string; open: number; high: number; low: number; close: number; volume: number; trades: string }>(p,
        `SELECT toUnixTimestamp64Milli(open_time) AS open_time, open, high, low, close, volume, trades FROM candles FINAL
         WHERE symbol = 'BTC/USDT' AND interval = '1m' AND exchange = 'binance' AND is_final ORDER BY open_time`);
      return r.length === finals.length ? r : null;
    });
    expect(rows.map((r) => ({ ...r, open_time: Number(r.open_time), trades: Number(r.trades) }))).toEqual(finals);
    const star = await q<{ n: string }>(p, `SELECT count() AS n FROM candles FINAL WHERE exchange = '*' AND interval = '1m' AND is_final`);
    expect(Number(star[0]!.n)).toBe(finals.length);
    // Coarser intervals from the same source: 5m candles sum the 1m volumes.
    const ref5m = referenceCandles(ticks, 300_000).slice(0, -1);
    const five = await eventually('5m candles', async () => {
      const r = await q<{ volume: number; trades: string }>(p, `SELECT volume, trades FROM candles FINAL WHERE exchange = 'binance' AND interval = '5m' AND is_final ORDER BY open_time`);
      return r.length === ref5m.length ? r : null;
    });
    expect(five.map((r) => r.volume)).toEqual(ref5m.map((c) => c.volume));
  });

  it('computes indicators at each final candle (SMA 20 = mean of the last 20 closes)', async () => {
    const rows = await eventually('indicator rows', async () => {
      const r = await q<{ open_time: string; sma: number; rsi: number }>(p,
        `SELECT toUnixTimestamp64Milli(open_time) AS open_time, values['sma_20'] AS sma, values['rsi_14'] AS rsi FROM indicators FINAL
         WHERE exchange = 'binance' AND interval = '1m' ORDER BY open_time`);
      return r.length === finals.length ? r : null;
    });
    for (let i = 19; i < finals.length; i++) {
      const mean = finals.slice(i - 19, i + 1).reduce((s, c) => s + c.close, 0) / 20;
      expect(rows[i]!.sma).toBeCloseTo(mean, 9);
    }
    const last = rows[rows.length - 1]!;
    expect(last.rsi).toBeGreaterThan(0);
    expect(last.rsi).toBeLessThan(100);
  });

  it('publishes signals of every strategy and fires the alert once, for its owner', async () => {
    const strategies = await eventually('signals of five strategies', async () => {
      const r = await q<{ strategy: string; n: string; buys: string; sells: string }>(p,
        `SELECT strategy, count() AS n, countIf(side = 'BUY') AS buys, countIf(side = 'SELL') AS sells FROM signals FINAL
         WHERE exchange = 'binance' AND interval = '1m' GROUP BY strategy ORDER BY strategy`);
      return r.length >= 5 && r.every((x) => Number(x.n) === finals.length) ? r : null;
    });
    expect(strategies.map((s) => s.strategy)).toEqual(['bollinger_breakout', 'composite_vote', 'ma_crossover', 'macd_crossover', 'rsi_mean_reversion']);
    expect(strategies.some((s) => Number(s.buys) > 0 && Number(s.sells) > 0)).toBe(true);

    const firstAbove = ticks.find((tk) => tk.last > 105)!;
    const triggers = await eventually('one trigger', async () => {
      const r = await q<{ alert_id: string; user_id: string; value: number; t: string }>(p, `SELECT alert_id, user_id, value, toUnixTimestamp64Milli(event_time) AS t FROM alert_triggers FINAL`);
      return r.length >= 1 ? r : null;
    });
    expect(triggers).toHaveLength(1);
    expect(triggers[0]).toMatchObject({ alert_id: 'a1', user_id: 'alice', value: firstAbove.last });
    expect(Number(triggers[0]!.t)).toBe(firstAbove.event_time);
    expect(firstAbove.event_time).toBeGreaterThan(T0);
  });
});
