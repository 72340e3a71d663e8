import { describe, expect, it } from 'vitest';
import { planWindows, walkForward, type WalkForwardOptions, type WalkForwardProgress } from '../../../processors/backtest/walk-forward.ts';
import type { Candle } from '../../../schemas/generated/events.ts';
import { syntheticCandles } from './synthetic-candles.ts';

const OPTIONS: WalkForwardOptions = {
  trainSize: 260,
  testSize: 60,
  model: { horizon: 1, lookback: 4, epochs: 2, hiddenUnits: 8, batchSize: 32, seed: 1 },
  feeBps: 10,
};

describe('walk-forward', () => {
  const candles = syntheticCandles({ count: 450, seed: 21 });

  it('plans rolling and anchored windows', () => {
    expect(planWindows(450, 260, 60, 60, false)).toEqual([
      { trainStart: 0, testStart: 260, testEnd: 320 },
      { trainStart: 60, testStart: 320, testEnd: 380 },
      { trainStart: 120, testStart: 380, testEnd: 440 },
    ]);
    expect(planWindows(450, 260, 60, 60, true).map((p) => p.trainStart)).toEqual([0, 0, 0]);
  });

  it('reports per window and overall, and never trains on a window it tests', async () => {
    const progress: WalkForwardProgress[] = [];
    const report = await walkForward(candles, { ...OPTIONS, onProgress: (p) => progress.push(p) });
    expect(report.windows).toHaveLength(3);
    expect(report.stopped).toBe(false);
    for (const w of report.windows) {
      expect(w.train.to).toBeLessThan(w.test.from);
      expect(w.test.candles).toBe(60);
      expect(w.prediction.samples).toBe(60);
      expect(w.prediction.directional_accuracy).toBeGreaterThanOrEqual(0);
      expect(w.prediction.directional_accuracy).toBeLessThanOrEqual(1);
      expect(Number.isFinite(w.prediction.mae)).toBe(true);
      expect(Number.isFinite(w.strategy.sharpe)).toBe(true);
      expect(w.strategy.max_drawdown).toBeGreaterThanOrEqual(0);
    }
    expect(report.predictions).toHaveLength(180);
    expect(report.overall.prediction.samples).toBe(180);
    expect(report.equity).toHaveLength(180);
    expect(report.config).toMatchObject({ symbol: 'BTC/USDT', interval: '1m', fee_bps: 10, mode: 'long_only' });
    expect(progress.filter((p) => p.phase === 'done').map((p) => p.window)).toEqual([1, 2, 3]);
    expect(progress.some((p) => p.phase === 'training' && p.epoch !== null)).toBe(true);
    expect(progress[progress.length - 1]!.fraction).toBe(1);
  });

  it('lookahead: changing candles after T leaves every prediction at or before T unchanged', async () => {
    const k = 350; // inside window 2's test range (320..379)
    const T = candles[k]!.open_time;
    const altered: Candle[] = candles.map((c, i) => (i > k ? { ...c, open: c.open * 0.7, high: c.high * 0.72, low: c.low * 0.65, close: c.close * 0.7 * (1 + 0.003 * Math.cos(i)), volume: c.volume * 4 } : c));
    const a = await walkForward(candles, OPTIONS);
    const b = await walkForward(altered, OPTIONS);
    const before = (r: typeof a) => r.predictions.filter((p) => p.time <= T).map(({ actual_return: _realized, ...p }) => p);
    // Window 1 (candles 260..319: 60) plus window 2 up to candle 350 (320..350: 31).
    expect(before(a).length).toBe(91);
    expect(before(b)).toEqual(before(a));
    // Window 1 is entirely before T: its whole report is unchanged.
    expect(b.windows[0]).toEqual(a.windows[0]);
    // And the change is visible after T.
    expect(b.predictions.filter((p) => p.time > T)).not.toEqual(a.predictions.filter((p) => p.time > T));
  });

  it('stops between windows when asked', async () => {
    let windowsDone = 0;
    const report = await walkForward(candles, {
      ...OPTIONS,
      onProgress: (p) => {
        if (p.phase === 'done') windowsDone = p.window;
      },
      shouldStop: () => windowsDone >= 1,
    });
    expect(report.stopped).toBe(true);
    expect(report.windows).toHaveLength(1);
    expect(report.equity).toHaveLength(60);
  });
});
