// Backtests any strategy that turns candles into BUY / SELL / HOLD.
//
// Execution model:
// - The strategy sees candle i after it closes; its order fills at the OPEN of candle i + 1.
//   A signal on the last candle is never filled.
// - Sides are targets: long_only: BUY -> long, SELL -> flat. long_short: BUY -> long, SELL ->
//   short (a reversal closes one trade and opens the other at the same open). HOLD, null or
//   undefined keep the position. A BUY while long (or SELL while short/flat in long_only) does nothing.
// - Slippage moves every fill against the trader by slippageBps; the fee is feeBps of the
//   traded notional on each side. All equity is committed to each position (no leverage).
// - An open position is closed at the last candle's close (exit_reason 'end').
// - Equity is marked to market at each candle close; drawdown, Sharpe and Sortino use those
//   per-candle values (intra-candle moves are not seen). Annualization assumes 24/7 markets:
//   periods per year = 365 days / interval.
import type { Candle, SignalSide } from '../../schemas/generated/events.ts';
import { mulberry32, randomIndex } from '../../runtime/seeded-random.ts';

/** What this backtester needs from a strategy; any object with this shape works. */
export interface Strategy {
  next(candle: Candle): { side: SignalSide } | null | undefined;
}

export type StrategyFunction = (candle: Candle, index: number) => { side: SignalSide } | SignalSide | null | undefined;

export type StrategyInput = Strategy | StrategyFunction;

export type BacktestMode = 'long_only' | 'long_short';

export interface MonteCarloOptions {
  /** Default 1000. */
  runs?: number;
  /** Default 42. */
  seed?: number;
}

export interface BacktestOptions {
  /** Default 10_000. */
  initialCapital?: number;
  feeBps?: number;
  slippageBps?: number;
  /** Default long_only. */
  mode?: BacktestMode;
  /** For annualization; default the candles' interval. */
  interval?: string;
  /** false to skip; default { runs: 1000, seed: 42 }. */
  monteCarlo?: MonteCarloOptions | false;
}

export interface Trade {
  side: 'LONG' | 'SHORT';
  /** open_time of the candle whose open filled the entry. */
  entry_time: number;
  entry_price: number;
  exit_time: number;
  exit_price: number;
  /** Net of fees and slippage, as a fraction of the equity committed. */
  return: number;
  pnl: number;
  /** Candle closes spent in the position. */
  bars_held: number;
  exit_reason: 'signal' | 'end';
}

export interface EquityPoint {
  /** close_time of the candle. */
  time: number;
  equity: number;
}

export interface BacktestMetrics {
  initial_capital: number;
  final_equity: number;
  total_return: number;
  /** Compound annual growth over first open to last close; null when that span is zero. */
  cagr: number | null;
  sharpe: number;
  sortino: number;
  /** Largest peak-to-trough fall of the equity curve, as a positive fraction. */
  max_drawdown: number;
  /** Share of closed trades with a positive net return (0 without trades). */
  win_rate: number;
  trades: number;
  /** Share of candles that closed with a position open. */
  exposure: number;
  bars: number;
  periods_per_year: number;
  buy_and_hold_return: number;
}

export interface Percentiles {
  p5: number;
  p50: number;
  p95: number;
}

export interface MonteCarloSummary {
  runs: number;
  seed: number;
  trades_per_run: number;
  total_return: Percentiles;
  max_drawdown: Percentiles;
}

export interface BacktestResult {
  metrics: BacktestMetrics;
  trades: Trade[];
  equity: EquityPoint[];
  monte_carlo: MonteCarloSummary | null;
}

const YEAR_MS = 365 * 24 * 3600 * 1000;

/** Milliseconds in an interval such as 30s, 1m, 15m, 1h, 4h, 1d, 1w. */
export function intervalMs(interval: string): number {
  const match = /^(\d+)(s|m|h|d|w)$/.exec(interval.trim());
  if (!match) throw new Error(`unknown interval ${JSON.stringify(interval)}`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[match[2] as 's' | 'm' | 'h' | 'd' | 'w'];
  const count = Number(match[1]);
  if (count <= 0) throw new Error(`unknown interval ${JSON.stringify(interval)}`);
  return count * unit;
}

/** Candle periods in a 365-day year (crypto trades around the clock). */
export function periodsPerYear(interval: string): number {
  return YEAR_MS / intervalMs(interval);
}

function toDecide(strategy: StrategyInput): (candle: Candle, index: number) => SignalSide {
  const read = (out: { side: SignalSide } | SignalSide | null | undefined): SignalSide =>
    out == null ? 'HOLD' : typeof out === 'string' ? out : out.side;
  if (typeof strategy === 'function') return (candle, index) => read(strategy(candle, index));
  return (candle) => read(strategy.next(candle));
}

interface OpenPosition {
  direction: 1 | -1;
  entryPrice: number;
  entryEquity: number;
  entryTime: number;
  units: number;
  bars: number;
}

export function backtestStrategy(candles: readonly Candle[], strategy: StrategyInput, options: BacktestOptions = {}): BacktestResult {
  const first = candles[0];
  if (!first) throw new Error('no candles to backtest');
  const initial = options.initialCapital ?? 10_000;
  const fee = (options.feeBps ?? 0) / 10_000;
  const slip = (options.slippageBps ?? 0) / 10_000;
  const mode = options.mode ?? 'long_only';
  const ppy = periodsPerYear(options.interval ?? first.interval);
  const decide = toDecide(strategy);

  let cash = initial;
  let position: OpenPosition | null = null;
  let pendingTarget: -1 | 0 | 1 | null = null;
  let exposedBars = 0;
  const trades: Trade[] = [];
  const equity: EquityPoint[] = [];

  const markToMarket = (price: number): number => {
    if (!position) return cash;
    // Long: units bought with equity net of the entry fee. Short: proceeds plus committed equity
    // held as cash, less the units owed at the current price.
    return position.direction === 1 ? position.units * price : cash - position.units * price;
  };

  const open = (direction: 1 | -1, rawPrice: number, time: number): void => {
    const price = rawPrice * (1 + direction * slip);
    const committed = cash;
    if (direction === 1) {
      position = { direction, entryPrice: price, entryEquity: committed, entryTime: time, units: (committed * (1 - fee)) / price, bars: 0 };
      cash = 0;
    } else {
      const units = committed / price;
      position = { direction, entryPrice: price, entryEquity: committed, entryTime: time, units, bars: 0 };
      cash = committed + units * price - committed * fee;
    }
  };

  const close = (rawPrice: number, time: number, reason: Trade['exit_reason']): void => {
    const p = position;
    if (!p) return;
    const price = rawPrice * (1 - p.direction * slip);
    const after = p.direction === 1 ? p.units * price * (1 - fee) : cash - p.units * price * (1 + fee);
    trades.push({
      side: p.direction === 1 ? 'LONG' : 'SHORT',
      entry_time: p.entryTime,
      entry_price: p.entryPrice,
      exit_time: time,
      exit_price: price,
      return: after / p.entryEquity - 1,
      pnl: after - p.entryEquity,
      bars_held: p.bars,
      exit_reason: reason,
    });
    cash = after;
    position = null;
  };

  for (let i = 0; i < candles.length; i++) {
    const candle = candles[i]!;
    const current: -1 | 0 | 1 = position ? (position as OpenPosition).direction : 0;
    if (pendingTarget !== null && pendingTarget !== current) {
      if (position) close(candle.open, candle.open_time, 'signal');
      if (pendingTarget !== 0) open(pendingTarget, candle.open, candle.open_time);
    }
    pendingTarget = null;
    if (position) {
      (position as OpenPosition).bars++;
      exposedBars++;
    }
    equity.push({ time: candle.close_time, equity: markToMarket(candle.close) });

    const side = decide(candle, i);
    if (side === 'BUY') pendingTarget = 1;
    else if (side === 'SELL') pendingTarget = mode === 'long_short' ? -1 : 0;
  }

  const last = candles[candles.length - 1]!;
  if (position) {
    close(last.close, last.close_time, 'end');
    equity[equity.length - 1] = { time: last.close_time, equity: cash };
  }

  const values = equity.map((p) => p.equity);
  const finalEquity = values[values.length - 1]!;
  const totalReturn = finalEquity / initial - 1;
  const years = (last.close_time - first.open_time) / YEAR_MS;
  const stats = returnStats([initial, ...values], ppy);
  const metrics: BacktestMetrics = {
    initial_capital: initial,
    final_equity: finalEquity,
    total_return: totalReturn,
    cagr: years > 0 ? (finalEquity > 0 ? (finalEquity / initial) ** (1 / years) - 1 : -1) : null,
    sharpe: stats.sharpe,
    sortino: stats.sortino,
    max_drawdown: maxDrawdown([initial, ...values]),
    win_rate: trades.length ? trades.filter((t) => t.return > 0).length / trades.length : 0,
    trades: trades.length,
    exposure: exposedBars / candles.length,
    bars: candles.length,
    periods_per_year: ppy,
    buy_and_hold_return: last.close / first.open - 1,
  };

  const mc = options.monteCarlo === false ? null : monteCarloTrades(trades.map((t) => t.return), options.monteCarlo ?? {});
  return { metrics, trades, equity, monte_carlo: mc };
}

/** Annualized Sharpe and Sortino (risk-free 0) of the per-period returns of an equity series. */
export function returnStats(values: readonly number[], periodsPerYearValue: number): { sharpe: number; sortino: number } {
  const returns: number[] = [];
  for (let i = 1; i < values.length; i++) {
    const prev = values[i - 1]!;
    returns.push(prev > 0 ? values[i]! / prev - 1 : 0);
  }
  if (returns.length < 2) return { sharpe: 0, sortino: 0 };
  const mean = returns.reduce((a, b) => a + b, 0) / returns.length;
  const variance = returns.reduce((a, r) => a + (r - mean) ** 2, 0) / (returns.length - 1);
  const downside = Math.sqrt(returns.reduce((a, r) => a + Math.min(r, 0) ** 2, 0) / returns.length);
  const scale = Math.sqrt(periodsPerYearValue);
  const std = Math.sqrt(variance);
  return {
    sharpe: std > 1e-15 ? (mean / std) * scale : 0,
    sortino: downside > 1e-15 ? (mean / downside) * scale : 0,
  };
}

/** Largest fall from a running peak, as a positive fraction (0.25 = 25%). */
export function maxDrawdown(values: readonly number[]): number {
  let peak = -Infinity;
  let worst = 0;
  for (const v of values) {
    if (v > peak) peak = v;
    if (peak > 0) worst = Math.max(worst, 1 - v / peak);
  }
  return worst;
}

/** Linear-interpolated percentile (q in 0..1) of unsorted values. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Bootstrap of trade returns: each run draws as many trades as there were, with replacement,
 * compounds them, and records total return and max drawdown (on the trade-by-trade equity).
 * Seeded: the same returns, runs and seed give the same summary.
 */
export function monteCarloTrades(tradeReturns: readonly number[], options: MonteCarloOptions = {}): MonteCarloSummary {
  const runs = options.runs ?? 1000;
  const seed = options.seed ?? 42;
  const n = tradeReturns.length;
  const totals: number[] = [];
  const drawdowns: number[] = [];
  if (n > 0) {
    const random = mulberry32(seed);
    for (let run = 0; run < runs; run++) {
      let eq = 1;
      let peak = 1;
      let worst = 0;
      for (let k = 0; k < n; k++) {
        eq *= 1 + tradeReturns[randomIndex(random, n)]!;
        peak = Math.max(peak, eq);
        worst = Math.max(worst, 1 - eq / peak);
      }
      totals.push(eq - 1);
      drawdowns.push(worst);
    }
  }
  const summary = (values: number[]): Percentiles => ({ p5: percentile(values, 0.05), p50: percentile(values, 0.5), p95: percentile(values, 0.95) });
  return { runs: n > 0 ? runs : 0, seed, trades_per_run: n, total_return: summary(totals), max_drawdown: summary(drawdowns) };
}
