import { describe, it, expect } from 'vitest';
import type { Candle } from '../../../schemas/generated/events.ts';
import { IndicatorProcessor } from '../../../processors/indicators/indicator-processor.ts';
import { STRATEGIES, createStrategy, getStrategy, strategyCatalogue } from '../../../processors/signals/strategy-registry.ts';
import { StrategyParamError, type StrategyDecision, type StrategyParamsInput } from '../../../processors/signals/strategy.ts';
import { candles, randomWalk } from './market-fixtures.ts';

/** Steady fall of 40 candles, then a steady rise: RSI oversold, then the averages turn up. */
const DOWN_UP = [...Array.from({ length: 40 }, (_, i) => 100 - i), ...Array.from({ length: 40 }, (_, i) => 61 + 2 * i)];
const UP_DOWN = DOWN_UP.map((x) => 200 - x);
const zigzag = (n: number): number[] => Array.from({ length: n }, (_, i) => (i % 2 ? 101 : 100));

function decisions(name: string, closes: number[], params?: StrategyParamsInput): StrategyDecision[] {
  const s = createStrategy(name, params);
  return candles(closes).map((c) => s.next(c));
}
/** Candle indices with a non-HOLD decision, as `index:side`. */
function actions(list: StrategyDecision[]): string[] {
  return list.flatMap((d, i) => (d.side === 'HOLD' ? [] : [`${i}:${d.side}`]));
}

describe('strategy registry', () => {
  it('holds at least the five named strategies, each with description and param specs', () => {
    const names = STRATEGIES.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['ma_crossover', 'rsi_mean_reversion', 'macd_crossover', 'bollinger_breakout', 'composite_vote']));
    for (const entry of strategyCatalogue()) {
      expect(entry.description.length).toBeGreaterThan(10);
      for (const p of entry.params) {
        expect(p.description.length).toBeGreaterThan(3);
        if (p.type === 'enum') expect(p.options).toContain(p.default);
        else expect(p.default >= p.min && p.default <= p.max).toBe(true);
      }
    }
    expect(JSON.parse(JSON.stringify(strategyCatalogue()))).toEqual(strategyCatalogue());
    expect(getStrategy('rsi_mean_reversion')?.params.map((p) => p.name)).toEqual(['period', 'oversold', 'overbought']);
  });

  it('every strategy is created with its defaults and holds while warming up', () => {
    for (const def of STRATEGIES) {
      const s = def.create();
      const [first] = candles([100]);
      const d = s.next(first!);
      expect(d.side, def.name).toBe('HOLD');
      expect(d.strength).toBe(0);
      expect(d.reasons.length).toBeGreaterThan(0);
    }
  });

  it('rejects bad params with a message naming strategy, param and range', () => {
    expect(() => createStrategy('nope')).toThrow(/unknown strategy "nope"; known: ma_crossover/);
    expect(() => createStrategy('ma_crossover', { fats: 3 })).toThrow(/ma_crossover: unknown param "fats"/);
    expect(() => createStrategy('ma_crossover', { fast: 1 })).toThrow(/param "fast" must be an integer in \[2, 500\], got 1/);
    expect(() => createStrategy('ma_crossover', { fast: 2.5 })).toThrow(StrategyParamError);
    expect(() => createStrategy('ma_crossover', { fast: 30, slow: 20 })).toThrow(/"fast" \(30\) must be less than "slow" \(20\)/);
    expect(() => createStrategy('ma_crossover', { ma_type: 'wma' })).toThrow(/"ma_type" must be one of ema, sma, got "wma"/);
    expect(() => createStrategy('rsi_mean_reversion', { oversold: 'abc' })).toThrow(/"oversold" must be a number in \[1, 50\], got "abc"/);
    expect(() => createStrategy('rsi_mean_reversion', { oversold: 45, overbought: 50 })).not.toThrow();
    expect(() => createStrategy('bollinger_breakout', { std_dev: 0 })).toThrow(/std_dev/);
    expect(() => createStrategy('composite_vote', { min_votes: 5 })).toThrow(/min_votes/);
    // Numeric strings (query strings, JSON configs) are accepted and converted.
    expect(createStrategy('rsi_mean_reversion', { period: '7' }).params.period).toBe(7);
  });
});

describe('ma_crossover', () => {
  it('BUYs when the fast SMA crosses above the slow one and SELLs on the cross below', () => {
    const buy = actions(decisions('ma_crossover', DOWN_UP, { ma_type: 'sma', fast: 3, slow: 5 }));
    expect(buy).toEqual(['42:BUY']);
    const sell = actions(decisions('ma_crossover', UP_DOWN, { ma_type: 'sma', fast: 3, slow: 5 }));
    expect(sell).toEqual(['42:SELL']);
  });

  it('uses EMA 12/26 by default', () => {
    const list = decisions('ma_crossover', DOWN_UP);
    expect(actions(list)).toEqual(['50:BUY']);
    expect(list[50]!.reasons[0]).toMatch(/^ema_12 [\d.]+ crossed above ema_26 [\d.]+$/);
    expect(list[50]!.strength).toBeGreaterThanOrEqual(0.5);
    expect(list[51]!.reasons[0]).toMatch(/ema_12 .* above ema_26 .*, no cross/);
  });

  it('min_gap_pct filters whipsaws around the line', () => {
    const noisy = [...zigzag(60), 110, 111];
    expect(actions(decisions('ma_crossover', noisy)).length).toBeGreaterThan(10);
    expect(actions(decisions('ma_crossover', noisy, { min_gap_pct: 0.5 }))).toEqual(['60:BUY']);
  });
});

describe('rsi_mean_reversion', () => {
  it('BUYs while oversold, SELLs while overbought, HOLDs in between', () => {
    const list = decisions('rsi_mean_reversion', DOWN_UP);
    expect(list[13]!.side).toBe('HOLD'); // warming up
    expect(list[14]).toMatchObject({ side: 'BUY', strength: 1 });
    expect(list[14]!.reasons[0]).toBe('rsi_14 0 below oversold 30');
    expect(list[60]!.side).toBe('SELL');
    expect(list[60]!.strength).toBeGreaterThan(0.5);
    expect(list[60]!.strength).toBeLessThanOrEqual(1);
    const mid = decisions('rsi_mean_reversion', [...zigzag(40)]);
    expect(mid[39]!.side).toBe('HOLD');
    expect(mid[39]!.reasons[0]).toMatch(/between 30 and 70/);
  });

  it('respects its thresholds and period', () => {
    const [c1, c2, c3] = candles([100, 101, 102]);
    expect(createStrategy('rsi_mean_reversion').next(c1!, { rsi_14: 75 }).side).toBe('SELL');
    expect(createStrategy('rsi_mean_reversion', { overbought: 80 }).next(c1!, { rsi_14: 75 }).side).toBe('HOLD');
    expect(createStrategy('rsi_mean_reversion', { oversold: 20 }).next(c2!, { rsi_14: 25 }).side).toBe('HOLD');
    const seven = createStrategy('rsi_mean_reversion', { period: 7 });
    expect(seven.next(c3!, { rsi_14: 5, rsi_7: 50 }).side).toBe('HOLD');
  });
});

describe('macd_crossover', () => {
  it('BUYs when MACD crosses above its signal line, SELLs when it crosses below', () => {
    const buy = decisions('macd_crossover', DOWN_UP);
    expect(actions(buy)).toEqual(['40:BUY']);
    expect(buy[40]!.reasons).toEqual([expect.stringMatching(/^macd -?[\d.]+ crossed above macd_signal -?[\d.]+$/), 'macd below zero']);
    expect(actions(decisions('macd_crossover', UP_DOWN))).toEqual(['40:SELL']);
  });

  it('min_hist_pct filters whipsaws', () => {
    const noisy = [...zigzag(60), 90, 89];
    expect(actions(decisions('macd_crossover', noisy, { min_hist_pct: 0.2 }))).toEqual(['60:SELL']);
  });
});

describe('bollinger_breakout', () => {
  it('BUYs on a close above the upper band and SELLs below the lower band', () => {
    const up = decisions('bollinger_breakout', [...zigzag(30), 110]);
    expect(actions(up)).toEqual(['30:BUY']);
    expect(up[30]!.strength).toBe(1);
    expect(up[30]!.reasons[0]).toMatch(/^close 110 above bb_upper [\d.]+$/);
    expect(actions(decisions('bollinger_breakout', [...zigzag(30), 90]))).toEqual(['30:SELL']);
  });

  it('reversion mode fades the move; custom params use qualified indicator names', () => {
    const fade = decisions('bollinger_breakout', [...zigzag(30), 110], { mode: 'reversion', period: 20, std_dev: 2.5 });
    expect(actions(fade)).toEqual(['30:SELL']);
    expect(fade[30]!.reasons[0]).toMatch(/above bb_upper_20_2.5 /);
    expect(actions(decisions('bollinger_breakout', [...zigzag(30), 90], { mode: 'reversion' }))).toEqual(['30:BUY']);
  });
});

describe('composite_vote', () => {
  it('BUYs when at least min_votes members agree and SELLs symmetrically', () => {
    const buy = decisions('composite_vote', DOWN_UP);
    // Candle 40: macd_crossover and rsi_mean_reversion BUY; candle 50: ma_crossover and bollinger BUY vs rsi SELL.
    expect(actions(buy)).toEqual(['40:BUY', '50:BUY']);
    expect(buy[40]!.reasons[0]).toBe('2 BUY, 0 SELL of 4');
    expect(buy[40]!.reasons).toEqual(expect.arrayContaining([expect.stringMatching(/^macd_crossover: macd .* crossed above/)]));
    expect(buy[40]!.strength).toBeGreaterThan(0);
    expect(buy[40]!.strength).toBeLessThanOrEqual(1);
    expect(actions(decisions('composite_vote', UP_DOWN))).toEqual(['40:SELL', '50:SELL']);
  });

  it('HOLDs on a tie: the winning side must outvote the other', () => {
    const [c] = candles([100]);
    // rsi_mean_reversion BUYs (oversold) while bollinger_breakout SELLs (close below the lower band).
    const tie = createStrategy('composite_vote', { min_votes: 1 }).next(c!, { rsi_14: 10, bb_upper: 200, bb_middle: 150, bb_lower: 120 });
    expect(tie.side).toBe('HOLD');
    expect(tie.reasons[0]).toBe('1 BUY, 1 SELL of 4; need 1');
  });

  it('min_votes raises the bar', () => {
    expect(actions(decisions('composite_vote', DOWN_UP, { min_votes: 3 }))).toEqual([]);
    expect(actions(decisions('composite_vote', DOWN_UP, { min_votes: 1 })).length).toBeGreaterThan(2);
  });
});

describe('strategies on candles and on IndicatorValues', () => {
  const list = candles(randomWalk(400, 21));
  const proc = new IndicatorProcessor();
  const events = list.map((c) => proc.process(c)[0]!);

  it('decide the same from their own indicators as from the indicator processor events', () => {
    for (const def of STRATEGIES) {
      const own = def.create();
      const fed = def.create();
      const a = list.map((c) => own.next(c));
      const b = list.map((c, i) => fed.next(c, events[i]!.values));
      expect(b, def.name).toEqual(a);
      expect(a.some((d) => d.side !== 'HOLD'), def.name).toBe(true);
    }
  });

  it('prefer the event values when given, so a restarted instance is right at once', () => {
    const s = createStrategy('rsi_mean_reversion');
    const [c] = candles([100]);
    expect(s.next(c!, { rsi_14: 12 })).toMatchObject({ side: 'BUY', reasons: ['rsi_14 12 below oversold 30'] });
  });

  it('warmUp then next equals running over the whole series; in-progress and old candles HOLD', () => {
    for (const def of STRATEGIES) {
      const straight = def.create();
      const expected = list.map((c) => straight.next(c));
      const warmed = def.create();
      warmed.warmUp(list.slice(0, 300));
      expect(list.slice(300).map((c) => warmed.next(c)), def.name).toEqual(expected.slice(300));
      const old: Candle = list[10]!;
      const d = warmed.next(old);
      expect(d.side).toBe('HOLD');
      expect(d.reasons.join('|')).toMatch(/not a new final candle/);
    }
    const fresh = createStrategy('ma_crossover');
    expect(fresh.next({ ...list[0]!, is_final: false }).side).toBe('HOLD');
  });
});
