import { describe, it, expect } from 'vitest';
import type { Signal } from '../../../schemas/generated/events.ts';
import { IndicatorProcessor } from '../../../processors/indicators/indicator-processor.ts';
import { SignalProcessor } from '../../../processors/signals/signal-processor.ts';
import { STRATEGIES } from '../../../processors/signals/strategy-registry.ts';
import { candles, indicatorEvent, randomWalk } from './market-fixtures.ts';

const DOWN_UP = [...Array.from({ length: 40 }, (_, i) => 100 - i), ...Array.from({ length: 40 }, (_, i) => 61 + 2 * i)];

describe('SignalProcessor', () => {
  it('emits one Signal per strategy at every final candle close once its indicator event arrives', () => {
    const proc = new SignalProcessor({ now: () => 9 });
    const [c] = candles([100], { exchange: 'binance' });
    expect(proc.process({ topic: 'candles', value: c! })).toEqual([]);
    const out = proc.process({ topic: 'indicators', value: indicatorEvent(c!, { rsi_14: 10 }) });
    expect(out.map((s) => s.strategy)).toEqual(STRATEGIES.map((s) => s.name));
    const rsi = out.find((s) => s.strategy === 'rsi_mean_reversion')!;
    expect(rsi).toEqual({
      event_id: `signal:rsi_mean_reversion:binance:BTC/USDT:1h:${c!.open_time}`,
      event_type: 'signal',
      schema_version: 1,
      event_time: c!.close_time,
      ingest_time: 9,
      exchange: 'binance',
      symbol: 'BTC/USDT',
      interval: '1h',
      open_time: c!.open_time,
      strategy: 'rsi_mean_reversion',
      side: 'BUY',
      strength: expect.any(Number),
      price: 100,
      reasons: ['rsi_14 10 below oversold 30'],
    });
    expect(out.find((s) => s.strategy === 'ma_crossover')!.side).toBe('HOLD');
  });

  it('joins when the indicator event comes first', () => {
    const proc = new SignalProcessor({ strategies: [{ strategy: 'rsi_mean_reversion' }] });
    const [c] = candles([100]);
    expect(proc.process({ topic: 'indicators', value: indicatorEvent(c!, { rsi_14: 90 }) })).toEqual([]);
    const out = proc.process({ topic: 'candles', value: c! });
    expect(out.map((s) => s.side)).toEqual(['SELL']);
  });

  it('does not block on a missing indicator event: the next candle evaluates the waiting one', () => {
    const proc = new SignalProcessor({ strategies: [{ strategy: 'rsi_mean_reversion' }] });
    const [a, b] = candles([100, 101]);
    expect(proc.process({ topic: 'candles', value: a! })).toEqual([]);
    const out = proc.process({ topic: 'candles', value: b! });
    expect(out.map((s) => s.open_time)).toEqual([a!.open_time]);
    expect(out[0]!.reasons).toEqual(['warming up: rsi_14 not ready']);
    // The late indicator event for the evaluated candle is ignored; b's still joins.
    expect(proc.process({ topic: 'indicators', value: indicatorEvent(a!, {}) })).toEqual([]);
    expect(proc.process({ topic: 'indicators', value: indicatorEvent(b!, {}) }).map((s) => s.open_time)).toEqual([b!.open_time]);
    expect(proc.flush()).toEqual([]);
  });

  it('ignores in-progress candles, amendments and duplicates; flush evaluates waiting candles', () => {
    const proc = new SignalProcessor({ strategies: [{ strategy: 'ma_crossover' }] });
    const [a] = candles([100]);
    expect(proc.process({ topic: 'candles', value: { ...a!, is_final: false } })).toEqual([]);
    expect(proc.process({ topic: 'candles', value: a! })).toEqual([]);
    expect(proc.process({ topic: 'candles', value: a! })).toEqual([]);
    expect(proc.flush()).toHaveLength(1);
    expect(proc.process({ topic: 'candles', value: { ...a!, revision: 1 } })).toEqual([]);
  });

  it('runs a full candle + indicator stream and finds the crafted BUY', () => {
    const indicators = new IndicatorProcessor();
    const signals = new SignalProcessor({ strategies: [{ strategy: 'macd_crossover' }, { strategy: 'ma_crossover', id: 'sma_3_5', params: { ma_type: 'sma', fast: 3, slow: 5 } }] });
    const out: Signal[] = [];
    for (const c of candles(DOWN_UP)) {
      out.push(...signals.process({ topic: 'candles', value: c }));
      for (const v of indicators.process(c)) out.push(...signals.process({ topic: 'indicators', value: v }));
    }
    expect(out).toHaveLength(2 * DOWN_UP.length);
    const acted = out.filter((s) => s.side !== 'HOLD').map((s) => `${s.strategy}@${(s.open_time - out[0]!.open_time) / 3_600_000}:${s.side}`);
    expect(acted).toEqual(['macd_crossover@40:BUY', 'sma_3_5@42:BUY']);
    expect(new Set(out.map((s) => s.event_id)).size).toBe(out.length);
  });

  it('warmUp restores strategies so the first live candles match an uninterrupted run', () => {
    const list = candles(randomWalk(300, 8));
    const straight = new SignalProcessor({ now: () => 0 });
    const expected = [...list.flatMap((c) => straight.process({ topic: 'candles', value: c })), ...straight.flush()];
    const restarted = new SignalProcessor({ now: () => 0 });
    restarted.warmUp(list.slice(0, 250));
    const tail = [...list.slice(240).flatMap((c) => restarted.process({ topic: 'candles', value: c })), ...restarted.flush()];
    expect(tail).toEqual(expected.filter((s) => s.open_time >= list[250]!.open_time));
  });

  it('validates its strategy list up front', () => {
    expect(() => new SignalProcessor({ strategies: [{ strategy: 'ma_crossover' }, { strategy: 'ma_crossover' }] })).toThrow(/duplicate strategy id "ma_crossover"/);
    expect(() => new SignalProcessor({ strategies: [{ strategy: 'ma_crossover', params: { fast: 0 } }] })).toThrow(/param "fast"/);
    expect(() => new SignalProcessor({ strategies: [{ strategy: 'astrology' }] })).toThrow(/unknown strategy/);
  });
});
