import { describe, it, expect } from 'vitest';
import type { AlertDefinition, AlertTrigger, Candle, IndicatorValues } from '../../../schemas/generated/events.ts';
import { AlertTriggerProcessor, type AlertTriggerProcessorState } from '../../../processors/alerts/alert-trigger-processor.ts';
import { alertEvent, definition, prediction, signal } from './alert-fixtures.ts';
import { HOUR, MINUTE, T0, candles, indicatorEvent, tick } from './market-fixtures.ts';

const BTC = 'BTC/USDT';

function withAlert(type: string, params: Record<string, string>, overrides: Partial<AlertDefinition> = {}): AlertTriggerProcessor {
  const proc = new AlertTriggerProcessor({ now: () => 42 });
  const result = proc.apply(alertEvent('a1', 'CREATED', definition(type, params, overrides), T0 - HOUR));
  expect(result.status).toBe('created');
  return proc;
}

/** Feeds ticks (binance unless given) at T0 + i minutes; returns the trigger index per price. */
function ticks(proc: AlertTriggerProcessor, prices: number[], exchange = 'binance', start = T0): AlertTrigger[] {
  return prices.flatMap((p, i) => proc.process({ topic: 'ticks', value: tick(exchange, BTC, start + i * MINUTE, p) }));
}
const firedAt = (triggers: AlertTrigger[]): number[] => triggers.map((t) => (t.event_time - T0) / MINUTE);

describe('price_above / price_below (edge-triggered)', () => {
  it('fires on the crossing, not on every tick above, and not on the first observation', () => {
    const proc = withAlert('price_above', { threshold: '100' });
    const out = ticks(proc, [105, 99, 101, 102, 103, 100, 98, 101]);
    expect(firedAt(out)).toEqual([2, 7]);
    expect(out[0]).toEqual({
      event_id: `alert:a1:tick:binance:${BTC}:${T0 + 2 * MINUTE}:101`,
      event_type: 'alert_trigger',
      schema_version: 1,
      event_time: T0 + 2 * MINUTE,
      ingest_time: 42,
      alert_id: 'a1',
      user_id: 'user-1',
      alert_type: 'price_above',
      symbol: BTC,
      value: 101,
      threshold: 100,
      message: `${BTC} on binance crossed above 100 (last 101)`,
    });
  });

  it('price_below fires on the cross down', () => {
    const proc = withAlert('price_below', { threshold: '100' });
    expect(firedAt(ticks(proc, [101, 99.5, 99, 100, 101, 99]))).toEqual([1, 5]);
  });

  it('tracks each exchange separately when the alert has none, and only its own when it has one', () => {
    const any = withAlert('price_above', { threshold: '100' });
    ticks(any, [99], 'binance');
    ticks(any, [99], 'kraken');
    expect(ticks(any, [101], 'binance', T0 + MINUTE)).toHaveLength(1);
    expect(ticks(any, [101], 'kraken', T0 + MINUTE)).toHaveLength(1);

    const binanceOnly = withAlert('price_above', { threshold: '100' }, { exchange: 'binance' });
    expect(ticks(binanceOnly, [99, 101], 'kraken')).toEqual([]);
    expect(ticks(binanceOnly, [99, 101], 'binance')).toHaveLength(1);
  });

  it('ignores other symbols and inactive definitions', () => {
    const proc = withAlert('price_above', { threshold: '100' });
    expect(['ETH/USDT'].flatMap((s) => [99, 101].flatMap((p, i) => proc.process({ topic: 'ticks', value: tick('binance', s, T0 + i, p) })))).toEqual([]);
    const inactive = withAlert('price_above', { threshold: '100' }, { active: false });
    expect(ticks(inactive, [99, 101])).toEqual([]);
  });
});

describe('percent_change (over the tick stream)', () => {
  it('fires when the move within window_ms reaches percent', () => {
    const proc = withAlert('percent_change', { percent: '5', window_ms: String(10 * MINUTE) });
    // minute:  0    1    2      3      4
    const out = ticks(proc, [100, 102, 104.9, 105.2, 106]);
    expect(firedAt(out)).toEqual([3]);
    expect(out[0]!.value).toBeCloseTo(5.2, 10);
    expect(out[0]!.threshold).toBe(5);
    expect(out[0]!.message).toMatch(/moved \+5\.20% within 600000 ms \(100 -> 105\.2\)/);
  });

  it('only counts moves inside the window', () => {
    const proc = withAlert('percent_change', { percent: '5', window_ms: String(2 * MINUTE) });
    // A 6% rise spread over 6 minutes never reaches 5% within 2 minutes.
    expect(ticks(proc, [100, 101, 102, 103, 104, 105, 106])).toEqual([]);
  });

  it('direction down ignores rises and fires on drops; either fires on both', () => {
    const down = withAlert('percent_change', { percent: '3', window_ms: String(HOUR), direction: 'down' });
    expect(ticks(down, [100, 104])).toEqual([]);
    const drop = ticks(down, [96], 'binance', T0 + 2 * MINUTE);
    expect(drop).toHaveLength(1);
    expect(drop[0]!.value).toBeCloseTo(-4, 10);
    expect(drop[0]!.threshold).toBe(-3);
    const either = withAlert('percent_change', { percent: '3', window_ms: String(HOUR) });
    expect(ticks(either, [100, 104])).toHaveLength(1);
  });
});

describe('volume_spike (final candles)', () => {
  const vols = (volumes: number[], exchange = '*', interval = '1h'): Candle[] =>
    candles(volumes.map((v) => ({ close: 100, volume: v })), { exchange, interval, intervalMs: interval === '1h' ? HOUR : 4 * HOUR });
  const feed = (proc: AlertTriggerProcessor, list: Candle[]): AlertTrigger[] => list.flatMap((c) => proc.process({ topic: 'candles', value: c }));

  it('fires when volume >= multiplier x the mean of the previous lookback candles', () => {
    const proc = withAlert('volume_spike', { multiplier: '2', lookback: '3' });
    const list = vols([10, 10, 10, 19, 40, 10]);
    const out = feed(proc, list);
    expect(out.map((t) => t.value)).toEqual([40]);
    // previous three: 10, 10, 19 -> mean 13, threshold 26
    expect(out[0]!.threshold).toBeCloseTo(26, 10);
    expect(out[0]!.message).toMatch(/1h volume 40 is 3\.08x the mean 13 of the previous 3 candles/);
  });

  it('needs a full lookback, ignores in-progress candles, amendments and per-exchange candles without an exchange', () => {
    const proc = withAlert('volume_spike', { multiplier: '2', lookback: '3' });
    const [a, b, c, d] = vols([10, 10, 100, 100]);
    expect(feed(proc, [a!, b!, c!])).toEqual([]); // c has only two candles before it
    expect(feed(proc, [{ ...d!, is_final: false, volume: 1000 }])).toEqual([]);
    expect(feed(proc, [{ ...c!, revision: 1, volume: 1000 }])).toEqual([]);
    expect(feed(proc, vols([1, 1, 1, 50], 'binance'))).toEqual([]);
    // previous three: 10, 10, 100 -> mean 40, threshold 80
    expect(feed(proc, [d!]).map((t) => [t.value, t.threshold])).toEqual([[100, 80]]);
  });

  it('respects the interval and exchange of the definition', () => {
    const proc = withAlert('volume_spike', { multiplier: '2', lookback: '2' }, { exchange: 'binance', interval: '4h' });
    expect(feed(proc, vols([1, 1, 5], 'binance', '1h'))).toEqual([]);
    expect(feed(proc, vols([1, 1, 5], '*', '4h'))).toEqual([]);
    expect(feed(proc, vols([1, 1, 5], 'binance', '4h'))).toHaveLength(1);
  });
});

describe('indicator_threshold (edge-triggered)', () => {
  it('fires when the indicator crosses below / above the threshold', () => {
    const proc = withAlert('indicator_threshold', { indicator: 'rsi_14', op: 'below', threshold: '30' });
    const list = candles([1, 2, 3, 4, 5, 6]);
    const rsi = [50, 25, 20, 35, 28, 27];
    const out = list.flatMap((c, i) => proc.process({ topic: 'indicators', value: indicatorEvent(c, { rsi_14: rsi[i]! }) }));
    expect(out.map((t) => t.value)).toEqual([25, 28]);
    expect(out[0]!.message).toBe(`${BTC} 1h rsi_14 25 crossed below 30`);

    const above = withAlert('indicator_threshold', { indicator: 'macd_hist', op: 'above', threshold: '0' });
    const values: Array<Record<string, number>> = [{ macd_hist: -1 }, {}, { macd_hist: 0.5 }];
    const fired = list.slice(0, 3).flatMap((c, i) => above.process({ topic: 'indicators', value: indicatorEvent(c, values[i]!) }));
    expect(fired.map((t) => t.value)).toEqual([0.5]);
  });
});

describe('strategy_signal and prediction (event conditions)', () => {
  it('strategy_signal fires on each matching signal', () => {
    const proc = withAlert('strategy_signal', { strategy: 'macd_crossover', side: 'BUY' });
    const out = [
      signal(T0, 'macd_crossover', 'BUY'),
      signal(T0 + HOUR, 'macd_crossover', 'SELL'),
      signal(T0 + 2 * HOUR, 'ma_crossover', 'BUY'),
      signal(T0 + 3 * HOUR, 'macd_crossover', 'BUY', { exchange: 'binance' }), // not the '*' market
      signal(T0 + 4 * HOUR, 'macd_crossover', 'BUY'),
    ].flatMap((s) => proc.process({ topic: 'signals', value: s }));
    expect(out.map((t) => t.event_time)).toEqual([T0, T0 + 4 * HOUR]);
    expect(out[0]).toMatchObject({ alert_type: 'strategy_signal', value: 0.7, threshold: null });
    expect(out[0]!.message).toMatch(/macd_crossover BUY at 100 \(strength 0\.70\): because/);
  });

  it('prediction fires for the direction at or above min_confidence (and horizon when given)', () => {
    const proc = withAlert('prediction', { direction: 'UP', min_confidence: '0.8', horizon: '4' });
    const out = [
      prediction(T0, 'UP', 0.9),
      prediction(T0 + 1, 'UP', 0.5),
      prediction(T0 + 2, 'DOWN', 0.95),
      prediction(T0 + 3, 'UP', 0.85, { horizon: 12 }),
      prediction(T0 + 4, 'UP', 0.8),
    ].flatMap((p) => proc.process({ topic: 'predictions', value: p }));
    expect(out.map((t) => [t.event_time - T0, t.value, t.threshold])).toEqual([[0, 0.9, 0.8], [4, 0.8, 0.8]]);
  });
});

describe('cooldown, once/repeat, update and delete', () => {
  it('cooldown_ms suppresses triggers within the cooldown, in event time', () => {
    const proc = withAlert('price_above', { threshold: '100' }, { cooldown_ms: 5 * MINUTE });
    // crosses at minutes 1, 3 (inside the cooldown) and 7
    const out = ticks(proc, [99, 101, 99, 101, 99, 99, 99, 101]);
    expect(firedAt(out)).toEqual([1, 7]);
    expect(proc.stats.suppressedByCooldown).toBe(1);
  });

  it('repeat=false fires once; an update re-arms it', () => {
    const proc = withAlert('price_above', { threshold: '100' }, { repeat: false });
    expect(firedAt(ticks(proc, [99, 101, 99, 101, 99, 101]))).toEqual([1]);
    proc.apply(alertEvent('a1', 'UPDATED', definition('price_above', { threshold: '100' }, { repeat: false })));
    expect(ticks(proc, [99, 101], 'binance', T0 + HOUR)).toHaveLength(1);
  });

  it('an update changes the condition; a delete stops it', () => {
    const proc = withAlert('price_above', { threshold: '100' });
    expect(ticks(proc, [99, 101])).toHaveLength(1);
    expect(proc.apply(alertEvent('a1', 'UPDATED', definition('price_above', { threshold: '200' }))).status).toBe('updated');
    expect(ticks(proc, [99, 101, 150], 'binance', T0 + HOUR)).toEqual([]);
    expect(ticks(proc, [201], 'binance', T0 + 2 * HOUR)).toHaveLength(1);
    expect(proc.apply(alertEvent('a1', 'DELETED', null)).status).toBe('deleted');
    expect(ticks(proc, [100, 300, 100, 300], 'binance', T0 + 3 * HOUR)).toEqual([]);
  });

  it('reports an invalid definition and never throws out of process()', () => {
    const proc = new AlertTriggerProcessor();
    const result = proc.apply(alertEvent('bad', 'CREATED', definition('volume_spike', { multiplier: 'two', lookback: '5' })));
    expect(result).toEqual({ status: 'rejected', alertId: 'bad', reason: 'volume_spike: param "multiplier" must be a number, got "two"' });
    expect(proc.rules.invalid.get('bad')).toMatch(/multiplier/);
    expect(ticks(proc, [1, 2, 3])).toEqual([]);

    proc.apply(alertEvent('ind', 'CREATED', definition('indicator_threshold', { indicator: 'rsi_14', op: 'above', threshold: '1' })));
    const broken = { ...indicatorEvent(candles([1])[0]!, {}), values: null } as unknown as IndicatorValues;
    expect(() => proc.process({ topic: 'indicators', value: broken })).not.toThrow();
    expect(proc.stats.evaluationErrors).toBe(1);
  });
});

describe('restart', () => {
  it('restoreTrigger keeps a fired once-only alert silent and restores the cooldown', () => {
    const defEvent = alertEvent('a1', 'CREATED', definition('price_above', { threshold: '100' }, { repeat: false }), T0 - HOUR);
    const live = new AlertTriggerProcessor();
    live.apply(defEvent);
    const [fired] = ticks(live, [99, 101]);

    const restarted = new AlertTriggerProcessor();
    restarted.apply(defEvent);
    restarted.restoreTrigger(fired!);
    expect(ticks(restarted, [99, 101, 99, 101], 'binance', T0 + HOUR)).toEqual([]);

    const cooled = new AlertTriggerProcessor();
    cooled.apply(alertEvent('a1', 'CREATED', definition('price_above', { threshold: '100' }, { cooldown_ms: HOUR }), T0 - HOUR));
    cooled.restoreTrigger(fired!);
    expect(ticks(cooled, [99, 101], 'binance', T0 + 10 * MINUTE)).toEqual([]);
    expect(ticks(cooled, [99, 101], 'binance', T0 + 2 * HOUR)).toHaveLength(1);
  });

  it('snapshot/restoreState carries edge baselines and windows across a restart', () => {
    const defEvent = alertEvent('a1', 'CREATED', definition('price_above', { threshold: '100' }), T0 - HOUR);
    const live = new AlertTriggerProcessor();
    live.apply(defEvent);
    ticks(live, [99]);
    const state = JSON.parse(JSON.stringify(live.snapshot())) as AlertTriggerProcessorState;

    const restarted = new AlertTriggerProcessor();
    restarted.apply(defEvent);
    restarted.restoreState(state);
    // Without the baseline the first tick above 100 would only set it.
    expect(ticks(restarted, [101], 'binance', T0 + MINUTE)).toHaveLength(1);

    const otherVersion = new AlertTriggerProcessor();
    otherVersion.apply(alertEvent('a1', 'CREATED', definition('price_above', { threshold: '100' }), T0));
    otherVersion.restoreState(state);
    expect(ticks(otherVersion, [101], 'binance', T0 + MINUTE)).toEqual([]);
  });

  it('a replay of the same events produces the same trigger ids', () => {
    const run = (): string[] => {
      const proc = withAlert('price_above', { threshold: '100' });
      return ticks(proc, [99, 101, 99, 101]).map((t) => t.event_id);
    };
    expect(run()).toEqual(run());
    expect(new Set(run()).size).toBe(2);
  });
});
