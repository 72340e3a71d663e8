import { describe, it, expect } from 'vitest';
import { ADX, ATR, BollingerBands, EMA, MACD, OBV, RSI, SMA, Stochastic, VWAP, setConfig } from 'technicalindicators';
import type { Candle } from '../../../schemas/generated/events.ts';
import {
  DEFAULT_INDICATOR_CONFIG, EMPTY_INDICATOR_CONFIG, IndicatorConfigError, IndicatorSet, indicatorNames,
  listIndicatorNames, resolveIndicatorConfig, warmUpCandleCount, type IndicatorSetConfig,
} from '../../../processors/indicators/indicator-set.ts';
import { HOUR, T0, candles, randomWalk, type Bar } from './market-fixtures.ts';

const only = (config: Partial<IndicatorSetConfig>): IndicatorSet => new IndicatorSet({ ...EMPTY_INDICATOR_CONFIG, ...config });
/** The value of `name` after every candle (undefined while warming up). */
const series = (set: IndicatorSet, list: Candle[], name: string): Array<number | undefined> =>
  list.map((c) => set.update(c)?.[name]);
const defined = (xs: Array<number | undefined>): number[] => xs.filter((x): x is number => x !== undefined);
const expectClose = (actual: Array<number | undefined>, expected: Array<number | undefined>, digits = 10): void => {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i];
    if (e === undefined) expect(a, `index ${i}`).toBeUndefined();
    else expect(a, `index ${i}`).toBeCloseTo(e, digits);
  });
};

// StockCharts' RSI worked example (ChartSchool, "Relative Strength Index"), 14 periods.
const RSI_CLOSES = [
  44.3389, 44.0902, 44.1497, 43.6124, 44.3278, 44.8264, 45.0955, 45.4245, 45.8433, 46.0826, 45.8931, 46.0328, 45.614,
  46.282, 46.282, 46.0028, 46.0328, 46.4116, 46.2222, 45.6439, 46.2122, 46.2521, 45.7137, 46.4515, 45.7835, 45.3548,
  44.0288, 44.1783, 44.2181, 44.5672, 43.4205, 42.6628, 43.1314,
];
const RSI_PUBLISHED = [
  70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99, 41.46, 41.87, 45.46, 37.3,
  33.08, 37.77,
];

/** Textbook Wilder ADX/DMI, written independently of the library. */
function wilderAdx(bars: Bar[], n: number): Array<{ pdi: number; mdi: number; adx: number | undefined } | undefined> {
  const out: Array<{ pdi: number; mdi: number; adx: number | undefined } | undefined> = [undefined];
  let trS = 0, pS = 0, mS = 0, adx: number | undefined;
  const dxs: number[] = [];
  for (let i = 1; i < bars.length; i++) {
    const b = bars[i]!, prev = bars[i - 1]!;
    const tr = Math.max(b.high! - b.low!, Math.abs(b.high! - prev.close), Math.abs(b.low! - prev.close));
    const up = b.high! - prev.high!, down = prev.low! - b.low!;
    const pdm = up > down && up > 0 ? up : 0, mdm = down > up && down > 0 ? down : 0;
    if (i <= n) {
      trS += tr; pS += pdm; mS += mdm;
      if (i < n) { out.push(undefined); continue; }
    } else {
      trS = trS - trS / n + tr; pS = pS - pS / n + pdm; mS = mS - mS / n + mdm;
    }
    const pdi = (100 * pS) / trS, mdi = (100 * mS) / trS;
    const dx = (100 * Math.abs(pdi - mdi)) / (pdi + mdi);
    if (adx === undefined) {
      dxs.push(dx);
      if (dxs.length === n) adx = dxs.reduce((a, x) => a + x, 0) / n;
    } else {
      adx = (adx * (n - 1) + dx) / n;
    }
    out.push({ pdi, mdi, adx });
  }
  return out;
}

describe('IndicatorSet reference values', () => {
  it('SMA by hand', () => {
    const list = candles([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(series(only({ sma: [3] }), list, 'sma_3')).toEqual([undefined, undefined, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('EMA by hand: seeded with the SMA, then k = 2 / (n + 1)', () => {
    const list = candles([2, 4, 6, 8, 12, 14]);
    // seed (2+4+6)/3 = 4; k = 0.5: 4+(8-4)/2 = 6; 6+(12-6)/2 = 9; 9+(14-9)/2 = 11.5
    expect(series(only({ ema: [3] }), list, 'ema_3')).toEqual([undefined, undefined, 4, 6, 9, 11.5]);
  });

  it('RSI matches the published Wilder example (StockCharts, RSI 14)', () => {
    const values = series(only({ rsi: [14] }), candles(RSI_CLOSES), 'rsi_14');
    expect(values.slice(0, 14).every((v) => v === undefined)).toBe(true);
    expectClose(values.slice(14), RSI_PUBLISHED, 2);
  });

  it('MACD by hand (fast 3, slow 5, signal 2)', () => {
    const set = only({ macd: { fast: 3, slow: 5, signal: 2 } });
    const names = indicatorNames.macd({ fast: 3, slow: 5, signal: 2 });
    expect(names).toEqual({ macd: 'macd_3_5_2', signal: 'macd_signal_3_5_2', hist: 'macd_hist_3_5_2' });
    const out = candles([10, 12, 11, 15, 14, 18, 17, 20]).map((c) => set.update(c)!);
    // EMA3: 11, 13, 13.5, 15.75, 16.375, 18.1875 (from candle 3); EMA5: 12.4, 214/15, 683/45, 2266/135 (from candle 5)
    const macd = [13.5 - 12.4, 15.75 - 214 / 15, 16.375 - 683 / 45, 18.1875 - 2266 / 135];
    // Signal EMA2 (k = 2/3) seeded with the mean of the first two MACD values.
    const s1 = (macd[0]! + macd[1]!) / 2;
    const s2 = s1 + ((macd[2]! - s1) * 2) / 3;
    const s3 = s2 + ((macd[3]! - s2) * 2) / 3;
    expectClose(out.map((v) => v[names.macd]), [undefined, undefined, undefined, undefined, ...macd]);
    expectClose(out.map((v) => v[names.signal]), [undefined, undefined, undefined, undefined, undefined, s1, s2, s3]);
    expectClose(out.map((v) => v[names.hist]), [undefined, undefined, undefined, undefined, undefined, macd[1]! - s1, macd[2]! - s2, macd[3]! - s3]);
  });

  it('Bollinger Bands by hand (population standard deviation)', () => {
    const set = only({ bollinger: { period: 8, stdDev: 2 } });
    const list = candles([2, 4, 4, 4, 5, 5, 7, 9, 11]);
    const out = list.map((c) => set.update(c)!);
    // [2,4,4,4,5,5,7,9]: mean 5, variance 32/8 = 4, sd 2
    expect(out[7]).toMatchObject({ bb_middle_8_2: 5, bb_upper_8_2: 9, bb_lower_8_2: 1 });
    // [4,4,4,5,5,7,9,11]: mean 6.125, squared deviations sum 48.875
    const sd = Math.sqrt(48.875 / 8);
    expect(out[8]!.bb_middle_8_2).toBeCloseTo(6.125, 12);
    expect(out[8]!.bb_upper_8_2).toBeCloseTo(6.125 + 2 * sd, 12);
    expect(out[8]!.bb_lower_8_2).toBeCloseTo(6.125 - 2 * sd, 12);
    expect(out[6]!.bb_middle_8_2).toBeUndefined();
  });

  it('ATR by hand (Wilder, period 3)', () => {
    const list = candles([
      { high: 10, low: 8, close: 9 },
      { high: 11, low: 9, close: 10.5 }, // TR 2
      { high: 12, low: 10, close: 11 }, // TR max(2, 1.5, 0.5) = 2
      { high: 13, low: 10, close: 12 }, // TR 3 -> ATR (2+2+3)/3
      { high: 12.5, low: 11.5, close: 12 }, // TR 1 -> (7/3*2+1)/3
      { high: 15, low: 14, close: 14.5 }, // TR max(1, 3, 2) = 3 (gap)
    ]);
    expectClose(series(only({ atr: [3] }), list, 'atr_3'), [undefined, undefined, undefined, 7 / 3, 17 / 9, 61 / 27], 12);
  });

  it('Stochastic by hand (period 3, %D over 2)', () => {
    const list = candles([
      { high: 10, low: 8, close: 9 },
      { high: 11, low: 9, close: 10 },
      { high: 12, low: 10, close: 11.5 }, // (11.5-8)/(12-8) = 87.5
      { high: 12, low: 9, close: 9.5 }, // (9.5-9)/(12-9) = 16.67
      { high: 13, low: 11, close: 12.5 }, // (12.5-9)/(13-9) = 87.5
    ]);
    const set = only({ stochastic: { period: 3, signal: 2 } });
    const out = list.map((c) => set.update(c)!);
    expectClose(out.map((v) => v.stoch_k_3_2), [undefined, undefined, 87.5, 50 / 3, 87.5], 12);
    expectClose(out.map((v) => v.stoch_d_3_2), [undefined, undefined, undefined, (87.5 + 50 / 3) / 2, (50 / 3 + 87.5) / 2], 12);
  });

  it('OBV by hand: adds volume on up closes, subtracts on down, keeps on equal', () => {
    const list = candles([
      { close: 10, volume: 100 },
      { close: 11, volume: 200 },
      { close: 10.5, volume: 150 },
      { close: 10.5, volume: 50 },
      { close: 12, volume: 300 },
    ]);
    expect(series(only({ obv: true }), list, 'obv')).toEqual([undefined, 200, 50, 50, 350]);
  });

  it('VWAP by hand, reset at each UTC day for intraday candles', () => {
    const list = candles(
      [
        { high: 12, low: 8, close: 10, volume: 100 }, // typical 10
        { high: 15, low: 9, close: 12, volume: 300 }, // typical 12
        ...Array.from({ length: 4 }, () => ({ high: 10, low: 10, close: 10, volume: 0 })),
        { high: 21, low: 19, close: 20, volume: 50 }, // next day
      ],
      { interval: '4h', intervalMs: 4 * HOUR },
    );
    const values = series(only({ vwap: 'auto' }), list, 'vwap');
    expect(values[0]).toBe(10);
    expect(values[1]).toBe((10 * 100 + 12 * 300) / 400);
    expect(values[5]).toBe(11.5);
    expect(values[6]).toBe(20);
    const cumulative = series(only({ vwap: 'cumulative' }), list, 'vwap');
    expect(cumulative[6]).toBeCloseTo((1000 + 3600 + 1000) / 450, 12);
  });

  it('VWAP for daily candles resets on Mondays (UTC week)', () => {
    const list = candles(Array.from({ length: 9 }, (_, i) => ({ high: i + 1, low: i + 1, close: i + 1, volume: 1 })), {
      interval: '1d', intervalMs: 86_400_000, start: T0, // T0 is a Monday
    });
    const values = series(only({ vwap: 'auto' }), list, 'vwap');
    expect(values[6]).toBe((1 + 2 + 3 + 4 + 5 + 6 + 7) / 7);
    expect(values[7]).toBe(8);
    expect(values[8]).toBe(8.5);
  });

  it('ADX, +DI and -DI match a textbook Wilder implementation', () => {
    const bars = randomWalk(120, 7);
    const ref = wilderAdx(bars, 14);
    const set = only({ adx: 14 });
    const out = candles(bars).map((c) => set.update(c)!);
    out.forEach((v, i) => {
      const r = ref[i];
      if (!r || r.adx === undefined) {
        // The library's nextValue holds back pdi/mdi too until adx is warm.
        expect(v, `at ${i}`).toEqual({});
        return;
      }
      expect(v.pdi).toBeCloseTo(r.pdi, 9);
      expect(v.mdi).toBeCloseTo(r.mdi, 9);
      expect(v.adx).toBeCloseTo(r.adx, 9);
    });
    expect(out.findIndex((v) => v.adx !== undefined)).toBe(27); // candle 2 * period
  });
});

describe('IndicatorSet streaming equals technicalindicators batch calculate', () => {
  const bars = randomWalk(300, 99);
  const list = candles(bars);
  const close = bars.map((b) => b.close);
  const high = bars.map((b) => b.high!);
  const low = bars.map((b) => b.low!);
  const volume = bars.map((b) => b.volume!);
  const set = new IndicatorSet({ ...DEFAULT_INDICATOR_CONFIG, vwap: 'cumulative', sma: [20, 50], ema: [12, 50], rsi: [14, 7], atr: [14] });
  const outputs = list.map((c) => set.update(c)!);
  const col = (name: string): number[] => defined(outputs.map((v) => v[name]));

  it('SMA, EMA, RSI', () => {
    expect(col('sma_20')).toEqual(SMA.calculate({ period: 20, values: close }));
    expect(col('sma_50')).toEqual(SMA.calculate({ period: 50, values: close }));
    expect(col('ema_12')).toEqual(EMA.calculate({ period: 12, values: close }));
    expect(col('ema_50')).toEqual(EMA.calculate({ period: 50, values: close }));
    expect(col('rsi_14')).toEqual(RSI.calculate({ period: 14, values: close }));
    expect(col('rsi_7')).toEqual(RSI.calculate({ period: 7, values: close }));
  });

  it('MACD', () => {
    const batch = MACD.calculate({ values: close, fastPeriod: 12, slowPeriod: 26, signalPeriod: 9, SimpleMAOscillator: false, SimpleMASignal: false });
    expect(col('macd')).toEqual(batch.map((r) => r.MACD));
    expect(col('macd_signal')).toEqual(defined(batch.map((r) => r.signal)));
    expect(col('macd_hist')).toEqual(defined(batch.map((r) => r.histogram)));
  });

  it('Bollinger Bands', () => {
    const batch = BollingerBands.calculate({ period: 20, stdDev: 2, values: close });
    expect(col('bb_upper')).toEqual(batch.map((r) => r.upper));
    expect(col('bb_middle')).toEqual(batch.map((r) => r.middle));
    expect(col('bb_lower')).toEqual(batch.map((r) => r.lower));
  });

  it('ATR, Stochastic, ADX', () => {
    expect(col('atr_14')).toEqual(ATR.calculate({ period: 14, high, low, close }));
    const stoch = Stochastic.calculate({ period: 14, signalPeriod: 3, high, low, close });
    expect(col('stoch_k')).toEqual(stoch.map((r) => r.k));
    expect(col('stoch_d')).toEqual(defined(stoch.map((r) => r.d)));
    const adx = ADX.calculate({ period: 14, high, low, close });
    const withAdx = outputs.filter((v) => v.adx !== undefined);
    expect(withAdx.map((v) => v.adx)).toEqual(adx.map((r) => r.adx));
    expect(withAdx.map((v) => v.pdi)).toEqual(adx.map((r) => r.pdi));
    expect(withAdx.map((v) => v.mdi)).toEqual(adx.map((r) => r.mdi));
  });

  it('OBV and VWAP', () => {
    expect(col('obv')).toEqual(OBV.calculate({ close, volume }));
    expect(col('vwap')).toEqual(VWAP.calculate({ high, low, close, volume }));
  });

  it('reports every configured name once warmed up', () => {
    expect(Object.keys(outputs[299]!).sort()).toEqual([...set.names].sort());
  });
});

describe('IndicatorSet behaviour', () => {
  it('ignores in-progress candles, replays and amendments of applied candles', () => {
    const set = only({ sma: [2] });
    const [a, b] = candles([10, 20, 30]);
    expect(set.update({ ...a!, is_final: false })).toBeNull();
    expect(set.update(a!)).toEqual({});
    expect(set.update(b!)).toEqual({ sma_2: 15 });
    expect(set.update(b!)).toBeNull();
    expect(set.update({ ...a!, revision: 1, close: 99 })).toBeNull();
    expect(set.update({ ...b!, open_time: b!.open_time + HOUR, close: Number.NaN })).toBeNull();
    expect(set.lastCandleOpenTime).toBe(b!.open_time);
  });

  it('warmUp from full history continues exactly like an uninterrupted set', () => {
    const list = candles(randomWalk(260, 5));
    const straight = new IndicatorSet();
    const expected = list.map((c) => straight.update(c));
    const restarted = new IndicatorSet();
    // History arrives unordered and with an older revision of one candle.
    const history = list.slice(0, 200);
    restarted.warmUp([...history].reverse().concat([{ ...history[10]!, revision: -1, close: 1 }]));
    expect(list.slice(200).map((c) => restarted.update(c))).toEqual(expected.slice(200));
  });

  it('warmUp from a recommended window gives warmed, converged values on the first live candle', () => {
    const list = candles(randomWalk(2000, 11));
    const config = resolveIndicatorConfig({ vwap: null, obv: false });
    const straight = new IndicatorSet(config);
    let expected: Record<string, number> | null = null;
    for (const c of list) expected = straight.update(c);
    const n = warmUpCandleCount(config, HOUR);
    expect(n).toBe(500); // 10 x ema_50
    const restarted = new IndicatorSet(config);
    restarted.warmUp(list.slice(-1 - n, -1));
    const first = restarted.update(list[list.length - 1]!)!;
    expect(Object.keys(first).sort()).toEqual(Object.keys(expected!).sort());
    for (const [name, v] of Object.entries(expected!)) expect(first[name], name).toBeCloseTo(v, 2);
  });

  it('warmUp anchors OBV to the level last emitted', () => {
    const list = candles(randomWalk(50, 3));
    const straight = only({ obv: true });
    const expected = list.map((c) => straight.update(c)?.obv);
    const restarted = only({ obv: true });
    const history = list.slice(20, 40); // partial history: OBV would restart from 0
    restarted.warmUp(history, { open_time: list[39]!.open_time, values: { obv: expected[39]! } });
    const after = list.slice(40).map((c) => restarted.update(c)?.obv);
    after.forEach((v, i) => expect(v).toBeCloseTo(expected[40 + i]!, 9));
  });

  it('is unaffected by a global technicalindicators precision setting', () => {
    setConfig('precision', 2);
    try {
      const values = series(only({ sma: [3] }), candles([1, 2, 4.123456]), 'sma_3');
      expect(values[2]).toBeCloseTo(7.123456 / 3, 12);
    } finally {
      setConfig('precision', undefined);
    }
  });

  it('names: period-qualified singles, plain names for default multi-parameter families', () => {
    expect(listIndicatorNames(resolveIndicatorConfig())).toEqual([
      'sma_20', 'sma_50', 'ema_12', 'ema_26', 'ema_50', 'rsi_14', 'atr_14', 'macd', 'macd_signal', 'macd_hist',
      'bb_upper', 'bb_middle', 'bb_lower', 'stoch_k', 'stoch_d', 'adx', 'pdi', 'mdi', 'obv', 'vwap',
    ]);
    expect(indicatorNames.bollinger({ period: 30, stdDev: 2.5 }).upper).toBe('bb_upper_30_2.5');
    expect(indicatorNames.stochastic({ period: 10, signal: 5 }).k).toBe('stoch_k_10_5');
    expect(indicatorNames.adx(10)).toEqual({ adx: 'adx_10', pdi: 'pdi_10', mdi: 'mdi_10' });
  });

  it('rejects bad parameters with a clear error', () => {
    expect(() => new IndicatorSet({ sma: [0] })).toThrow(IndicatorConfigError);
    expect(() => new IndicatorSet({ rsi: [2.5] })).toThrow(/rsi: period must be an integer/);
    expect(() => new IndicatorSet({ macd: { fast: 26, slow: 12, signal: 9 } })).toThrow(/fast \(26\) must be less than slow \(12\)/);
    expect(() => new IndicatorSet({ bollinger: { period: 20, stdDev: 0 } })).toThrow(/stdDev/);
    expect(() => new IndicatorSet({ vwap: 'hourly' as never })).toThrow(/unknown session/);
  });
});
