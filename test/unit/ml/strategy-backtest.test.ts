import { describe, expect, it } from 'vitest';
import {
  backtestStrategy,
  intervalMs,
  maxDrawdown,
  monteCarloTrades,
  percentile,
  periodsPerYear,
  type Strategy,
} from '../../../processors/backtest/strategy-backtest.ts';
import type { Candle, SignalSide } from '../../../schemas/generated/events.ts';
import { makeCandle } from './synthetic-candles.ts';

const DAY = 86_400_000;
const START = Date.UTC(2024, 0, 1);

// Hand-made daily series. Signals are given at a candle's close and fill at the NEXT open.
//   i  open  close  signal
//   0   100   100   BUY   -> long at open1 = 100
//   1   100   110
//   2   110   121   SELL  -> exit at open3 = 120 (a gap up)
//   3   120   108   BUY   -> long at open4 = 100
//   4   100    90
//   5    90    95   SELL  -> exit at open6 = 99
//   6    99   100
//   7   100   100   BUY   (last candle: never filled)
const SERIES: Array<[number, number]> = [[100, 100], [100, 110], [110, 121], [120, 108], [100, 90], [90, 95], [99, 100], [100, 100]];
const SIGNALS: Record<number, SignalSide> = { 0: 'BUY', 2: 'SELL', 3: 'BUY', 5: 'SELL', 7: 'BUY' };

const candles: Candle[] = SERIES.map(([open, close], i) => makeCandle({ openTime: START + i * DAY, intervalMs: DAY, interval: '1d', open, close }));
const byIndex = (_c: Candle, i: number): SignalSide => SIGNALS[i] ?? 'HOLD';

/** The same signals as a stateful strategy object, the shape processors/signals provides. */
class ScriptedStrategy implements Strategy {
  private i = 0;
  next(_candle: Candle): { side: SignalSide } | undefined {
    const side = SIGNALS[this.i++];
    return side ? { side } : undefined;
  }
}

describe('strategy backtest on a hand-made series', () => {
  it('long only, no costs: known return, drawdown, trades, exposure', () => {
    const r = backtestStrategy(candles, byIndex, { initialCapital: 10_000, monteCarlo: false });
    // Trade 1: 100 -> 120 = +20%; trade 2: 100 -> 99 = -1%. Total 1.2 * 0.99 - 1 = 18.8%.
    // Equity at each close: 10000 (flat), 11000 (100 units x 110), 12100, 12000 (out at 120),
    // 10800 (120 units x 90), 11400, 11880 (out at 99), 11880.
    expect(r.equity.map((p) => p.equity)).toEqual([10_000, 11_000, 12_100, 12_000, 10_800, 11_400, 11_880, 11_880].map((v) => expect.closeTo(v, 6)));
    expect(r.metrics.total_return).toBeCloseTo(0.188, 12);
    expect(r.metrics.final_equity).toBeCloseTo(11_880, 8);
    // Peak 12100 (close 2) to trough 10800 (close 4): 1300 / 12100.
    expect(r.metrics.max_drawdown).toBeCloseTo(1300 / 12_100, 12);
    expect(r.metrics.trades).toBe(2);
    expect(r.metrics.win_rate).toBe(0.5);
    // Positions held at closes 1, 2, 4, 5: 4 of 8 candles.
    expect(r.metrics.exposure).toBe(0.5);
    expect(r.trades.map((t) => [t.side, t.entry_price, t.exit_price, t.exit_reason])).toEqual([
      ['LONG', 100, 120, 'signal'],
      ['LONG', 100, 99, 'signal'],
    ]);
    expect(r.trades[0]!.entry_time).toBe(candles[1]!.open_time);
    expect(r.trades[0]!.exit_time).toBe(candles[3]!.open_time);
    expect(r.trades[0]!.bars_held).toBe(2);
    expect(r.trades[1]!.return).toBeCloseTo(-0.01, 12);
    expect(r.metrics.buy_and_hold_return).toBe(0);

    // Sharpe/Sortino by hand from the per-close equity (risk-free 0, 365 periods a year for 1d).
    const eq = [10_000, 10_000, 11_000, 12_100, 12_000, 10_800, 11_400, 11_880, 11_880];
    const rets = eq.slice(1).map((v, i) => v / eq[i]! - 1);
    const mean = rets.reduce((a, b) => a + b, 0) / rets.length;
    const sd = Math.sqrt(rets.reduce((a, x) => a + (x - mean) ** 2, 0) / (rets.length - 1));
    const down = Math.sqrt(rets.reduce((a, x) => a + Math.min(0, x) ** 2, 0) / rets.length);
    expect(r.metrics.periods_per_year).toBe(365);
    expect(r.metrics.sharpe).toBeCloseTo((mean / sd) * Math.sqrt(365), 9);
    expect(r.metrics.sortino).toBeCloseTo((mean / down) * Math.sqrt(365), 9);
    // CAGR over first open to last close (8 days less 1 ms).
    const years = (8 * DAY - 1) / (365 * DAY);
    expect(r.metrics.cagr).toBeCloseTo(1.188 ** (1 / years) - 1, 6);
  });

  it('a strategy object and a plain function give the same result', () => {
    const a = backtestStrategy(candles, byIndex, { monteCarlo: false });
    const b = backtestStrategy(candles, new ScriptedStrategy(), { monteCarlo: false });
    expect(b).toEqual(a);
  });

  it('fees are charged on each side: 10 bps', () => {
    const r = backtestStrategy(candles, byIndex, { feeBps: 10, monteCarlo: false });
    // Long: units = E(1 - f) / entry, proceeds = units x exit x (1 - f), so r = (exit/entry)(1 - f)^2 - 1.
    expect(r.trades[0]!.return).toBeCloseTo(1.2 * 0.999 ** 2 - 1, 12);
    expect(r.trades[1]!.return).toBeCloseTo(0.99 * 0.999 ** 2 - 1, 12);
    expect(r.metrics.total_return).toBeCloseTo(1.188 * 0.999 ** 4 - 1, 12);
  });

  it('slippage moves fills against the trader: 100 bps', () => {
    const r = backtestStrategy(candles, byIndex, { slippageBps: 100, monteCarlo: false });
    // Buys fill 1% above the open, sells 1% below: 101 -> 118.8, then 101 -> 98.01.
    expect(r.trades[0]!.entry_price).toBeCloseTo(101, 9);
    expect(r.trades[0]!.exit_price).toBeCloseTo(118.8, 9);
    expect(r.metrics.total_return).toBeCloseTo((118.8 / 101) * (98.01 / 101) - 1, 12);
  });

  it('long/short: SELL reverses to short, BUY reverses to long; open position closed at the end', () => {
    const r = backtestStrategy(candles, byIndex, { mode: 'long_short', monteCarlo: false });
    // long 100 -> 120 (+20%) = 12000; short 120 -> 100 (+1/6) = 14000; long 100 -> 99 (-1%) = 13860;
    // short 99 -> closed at the last close 100 (-1/99) = 13720. Total 37.2%.
    // Equity at closes: 10000, 11000, 12100, 13200 (short 100 units at 120, close 108),
    // 12600 (long 140 units, close 90), 13300, 13720, 13720. Max drawdown 600 / 13200.
    expect(r.trades.map((t) => t.side)).toEqual(['LONG', 'SHORT', 'LONG', 'SHORT']);
    expect(r.trades[1]!.return).toBeCloseTo(1 / 6, 12);
    expect(r.trades[3]!.return).toBeCloseTo(-1 / 99, 12);
    expect(r.trades[3]!.exit_reason).toBe('end');
    expect(r.equity.map((p) => p.equity)).toEqual([10_000, 11_000, 12_100, 13_200, 12_600, 13_300, 13_720, 13_720].map((v) => expect.closeTo(v, 6)));
    expect(r.metrics.total_return).toBeCloseTo(0.372, 12);
    expect(r.metrics.max_drawdown).toBeCloseTo(600 / 13_200, 12);
    expect(r.metrics.trades).toBe(4);
    expect(r.metrics.win_rate).toBe(0.5);
    // In the market at every close from 1 to 7 (reversals happen at opens): 7 of 8 candles.
    expect(r.metrics.exposure).toBe(7 / 8);
  });

  it('short trades pay fees on both sides too', () => {
    const f = 0.001;
    const r = backtestStrategy(candles, byIndex, { mode: 'long_short', feeBps: 10, monteCarlo: false });
    // Short: r = (1 - f) - (exit/entry)(1 + f).
    expect(r.trades[1]!.return).toBeCloseTo(1 - f - (100 / 120) * (1 + f), 12);
  });

  it('never trades without signals', () => {
    const r = backtestStrategy(candles, () => 'HOLD', { monteCarlo: { runs: 10, seed: 1 } });
    expect(r.metrics).toMatchObject({ total_return: 0, max_drawdown: 0, trades: 0, exposure: 0, win_rate: 0, sharpe: 0 });
    expect(r.monte_carlo).toMatchObject({ runs: 0, trades_per_run: 0 });
  });
});

describe('Monte Carlo resampling', () => {
  const returns = [0.05, -0.02, 0.03, -0.04, 0.01, 0.02, -0.01, 0.06, -0.03, 0.015];

  it('is reproducible for a seed and changes with the seed', () => {
    const a = monteCarloTrades(returns, { runs: 500, seed: 123 });
    const b = monteCarloTrades(returns, { runs: 500, seed: 123 });
    const c = monteCarloTrades(returns, { runs: 500, seed: 124 });
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    expect(a.runs).toBe(500);
    expect(a.trades_per_run).toBe(10);
    expect(a.total_return.p5).toBeLessThanOrEqual(a.total_return.p50);
    expect(a.total_return.p50).toBeLessThanOrEqual(a.total_return.p95);
    expect(a.max_drawdown.p5).toBeLessThanOrEqual(a.max_drawdown.p95);
    expect(a.max_drawdown.p5).toBeGreaterThanOrEqual(0);
  });

  it('is part of the backtest result and reproducible there too', () => {
    const a = backtestStrategy(candles, byIndex, { monteCarlo: { runs: 200, seed: 9 } });
    const b = backtestStrategy(candles, byIndex, { monteCarlo: { runs: 200, seed: 9 } });
    expect(a.monte_carlo).not.toBeNull();
    expect(b.monte_carlo).toEqual(a.monte_carlo);
    // Two trades (+20%, -1%) resampled in pairs: every run's return is one of three values.
    const possible = [1.2 * 1.2 - 1, 1.2 * 0.99 - 1, 0.99 * 0.99 - 1];
    for (const v of [a.monte_carlo!.total_return.p5, a.monte_carlo!.total_return.p95]) {
      expect(possible.some((p) => Math.abs(p - v) < 1e-12)).toBe(true);
    }
  });

  it('identical trades give degenerate intervals equal to compounding', () => {
    const s = monteCarloTrades([0.1, 0.1, 0.1], { runs: 50, seed: 1 });
    expect(s.total_return.p5).toBeCloseTo(1.1 ** 3 - 1, 12);
    expect(s.total_return.p95).toBeCloseTo(1.1 ** 3 - 1, 12);
    expect(s.max_drawdown.p50).toBe(0);
  });
});

describe('helpers of the metrics', () => {
  it('interval parsing and annualization', () => {
    expect(intervalMs('1m')).toBe(60_000);
    expect(intervalMs('4h')).toBe(4 * 3_600_000);
    expect(periodsPerYear('1h')).toBe(8760);
    expect(periodsPerYear('1m')).toBe(525_600);
    expect(() => intervalMs('1x')).toThrow(/unknown interval/);
  });

  it('max drawdown and percentiles', () => {
    expect(maxDrawdown([100, 120, 90, 130, 117])).toBeCloseTo(0.25, 12);
    expect(percentile([1, 2, 3, 4, 5], 0.5)).toBe(3);
    expect(percentile([1, 2, 3, 4, 5], 0.05)).toBeCloseTo(1.2, 12);
  });
});
