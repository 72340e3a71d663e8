// indicators: the incremental IndicatorSet (technicalindicators nextValue) per candle vs
// recomputing the same indicators over the window with the library's batch calculate().
import { ADX, ATR, BollingerBands, EMA, MACD, OBV, RSI, SMA, Stochastic, VWAP } from 'technicalindicators';
import { IndicatorSet } from '../../processors/indicators/indicator-set.ts';
import type { Candle } from '../../schemas/generated/events.ts';
import { SyntheticMarket } from '../../ingest/synthetic-market.ts';
import { round, scenarioMain, type ScenarioResult } from '../lib.ts';

function candles(n: number): Candle[] {
  const m = new SyntheticMarket({ symbols: ['BTC/USDT'], exchanges: ['binance'], seed: 7 });
  const out: Candle[] = [];
  const t0 = Date.UTC(2026, 0, 5);
  for (let i = 0; i < n; i++) {
    const ts = m.next(t0 + i * 60_000, 10).map((x) => x.last);
    out.push({ event_id: `c${i}`, event_type: 'candle', schema_version: 1, event_time: t0 + (i + 1) * 60_000, ingest_time: t0 + (i + 1) * 60_000, exchange: 'binance', symbol: 'BTC/USDT', interval: '1m',
      open_time: t0 + i * 60_000, close_time: t0 + (i + 1) * 60_000 - 1, open: ts[0]!, high: Math.max(...ts), low: Math.min(...ts), close: ts[9]!, volume: 1 + (i % 7), trades: 10, is_final: true, revision: 0 });
  }
  return out;
}

function recompute(win: Candle[]): number {
  const close = win.map((c) => c.close), high = win.map((c) => c.high), low = win.map((c) => c.low), volume = win.map((c) => c.volume);
  let s = 0;
  const last = (a: unknown[]) => { s += a.length; };
  for (const p of [20, 50]) last(SMA.calculate({ period: p, values: close }));
  for (const p of [12, 26, 50]) last(EMA.calculate({ period: p, values: close }));
  last(RSI.calculate({ period: 14, values: close }));
  last(ATR.calculate({ period: 14, high, low, close }));
  last(MACD.calculate({ fastPeriod: 12, slowPeriod: 26, signalPeriod: 9, SimpleMAOscillator: false, SimpleMASignal: false, values: close }));
  last(BollingerBands.calculate({ period: 20, stdDev: 2, values: close }));
  last(Stochastic.calculate({ period: 14, signalPeriod: 3, high, low, close }));
  last(ADX.calculate({ period: 14, high, low, close }));
  last(OBV.calculate({ close, volume }));
  last(VWAP.calculate({ high, low, close, volume }));
  return s;
}

export async function run(quick: boolean): Promise<ScenarioResult> {
  const window = 200;
  const n = quick ? 3000 : 20_000;
  const cs = candles(n + window);
  // incremental: warm on the first `window`, then time n updates
  const set = new IndicatorSet();
  for (const c of cs.slice(0, window)) set.update(c);
  const t0 = performance.now();
  let k = 0;
  for (const c of cs.slice(window)) k += Object.keys(set.update(c) ?? {}).length;
  const incUs = ((performance.now() - t0) * 1000) / n;
  const m = quick ? 300 : 2000;
  const t1 = performance.now();
  let s = 0;
  for (let i = 0; i < m; i++) s += recompute(cs.slice(i + 1, i + 1 + window));
  const recUs = ((performance.now() - t1) * 1000) / m;
  return {
    scenario: 'indicators', quick,
    figures: [{ figure: 'indicator set, per candle update (incremental)', value: round(incUs, 2), unit: 'us/update', baseline: round(recUs, 1), ratio: round(recUs / incUs, 1), target: 'report the ratio (baseline/incremental, higher = incremental cheaper)', met: null }],
    notes: [`Default indicator set (SMA 20/50, EMA 12/26/50, RSI 14, ATR 14, MACD 12/26/9, BB 20/2, Stoch 14/3, ADX 14, OBV, VWAP): ${n} incremental updates (${k} values) vs ${m} recomputes over a ${window}-candle window with batch calculate() (${s} values). Ratio is baseline cost / incremental cost.`],
  };
}

scenarioMain('indicators', run);
