// Streaming technical indicators for one market (exchange, symbol, interval), fed with final candles.
//
// Every indicator is a technicalindicators streaming instance advanced with nextValue() once per
// candle; nothing recomputes over a window. Values are reported only once warmed up (and finite).
//
// Library semantics this relies on (technicalindicators 3.1.0, read from lib/):
// - SMA, EMA: first value at candle `period`; EMA seeds with the SMA of the first `period` closes.
// - RSI: Wilder smoothing; first value at candle period+1; rounded by the library to 2 decimals.
// - MACD: EMA oscillator and EMA signal (SimpleMA* false); macd from candle `slow`, signal/hist from
//   candle slow+signal-1.
// - BollingerBands: SMA middle, population standard deviation (divides by period).
// - ATR: true range from candle 2, Wilder average (SMA seed) from candle period+1.
// - Stochastic: %K from candle `period`, %D = SMA(signal) of %K; 0 when the range is flat.
// - ADX: Wilder-smoothed +DM/-DM/TR and DX; nextValue returns nothing until adx is warm, so adx,
//   pdi and mdi all appear from candle 2*period.
// - OBV: cumulative from 0; first value at candle 2 (the first candle only sets the reference close).
// - VWAP: the library's VWAP is cumulative with no reset, so a new instance starts each session
//   (UTC day for intraday intervals, UTC week from Monday for 1d and longer, by default).
//
// Value names: period-qualified for single-parameter indicators (sma_20, ema_12, rsi_14, atr_14).
// Multi-parameter families use the plain names (macd, macd_signal, macd_hist, bb_upper, bb_middle,
// bb_lower, stoch_k, stoch_d, adx, pdi, mdi) with their default parameters, and append the
// parameters otherwise (macd_8_21_5, bb_upper_30_2.5, stoch_k_10_5, adx_10), so a name always means
// one computation. obv and vwap have no parameters.
//
// State is the library's generators, which cannot be serialized; after a restart call warmUp() with
// history (see warmUpCandleCount) instead of emitting garbage for the first candles.
import { ADX, ATR, BollingerBands, EMA, MACD, OBV, RSI, SMA, Stochastic, VWAP } from 'technicalindicators';
import type { Candle } from '../../schemas/generated/events.ts';

export interface MacdConfig { fast: number; slow: number; signal: number }
export interface BollingerConfig { period: number; stdDev: number }
export interface StochasticConfig { period: number; signal: number }
/** 'auto': utc_day below a 1d interval, utc_week (from Monday 00:00 UTC) for 1d and longer. */
export type VwapSession = 'auto' | 'utc_day' | 'utc_week' | 'cumulative';

export interface IndicatorSetConfig {
  sma: readonly number[];
  ema: readonly number[];
  rsi: readonly number[];
  atr: readonly number[];
  macd: MacdConfig | null;
  bollinger: BollingerConfig | null;
  stochastic: StochasticConfig | null;
  adx: number | null;
  obv: boolean;
  vwap: VwapSession | null;
}

/** The parameters the plain (unqualified) names stand for. */
export const DEFAULT_MACD: Readonly<MacdConfig> = Object.freeze({ fast: 12, slow: 26, signal: 9 });
export const DEFAULT_BOLLINGER: Readonly<BollingerConfig> = Object.freeze({ period: 20, stdDev: 2 });
export const DEFAULT_STOCHASTIC: Readonly<StochasticConfig> = Object.freeze({ period: 14, signal: 3 });
export const DEFAULT_ADX_PERIOD = 14;

export const DEFAULT_INDICATOR_CONFIG: Readonly<IndicatorSetConfig> = Object.freeze({
  sma: [20, 50],
  ema: [12, 26, 50],
  rsi: [14],
  atr: [14],
  macd: DEFAULT_MACD,
  bollinger: DEFAULT_BOLLINGER,
  stochastic: DEFAULT_STOCHASTIC,
  adx: DEFAULT_ADX_PERIOD,
  obv: true,
  vwap: 'auto',
});

/** Only the indicators a consumer asks for: everything off unless given. */
export const EMPTY_INDICATOR_CONFIG: Readonly<IndicatorSetConfig> = Object.freeze({
  sma: [], ema: [], rsi: [], atr: [], macd: null, bollinger: null, stochastic: null, adx: null, obv: false, vwap: null,
});

export class IndicatorConfigError extends Error {
  override readonly name = 'IndicatorConfigError';
}

const sameMacd = (c: MacdConfig): boolean => c.fast === DEFAULT_MACD.fast && c.slow === DEFAULT_MACD.slow && c.signal === DEFAULT_MACD.signal;
const sameBollinger = (c: BollingerConfig): boolean => c.period === DEFAULT_BOLLINGER.period && c.stdDev === DEFAULT_BOLLINGER.stdDev;
const sameStochastic = (c: StochasticConfig): boolean => c.period === DEFAULT_STOCHASTIC.period && c.signal === DEFAULT_STOCHASTIC.signal;

/** The value names each indicator family produces, for a given parameterization. */
export const indicatorNames = {
  sma: (period: number): string => `sma_${period}`,
  ema: (period: number): string => `ema_${period}`,
  rsi: (period: number): string => `rsi_${period}`,
  atr: (period: number): string => `atr_${period}`,
  macd(c: MacdConfig): { macd: string; signal: string; hist: string } {
    const s = sameMacd(c) ? '' : `_${c.fast}_${c.slow}_${c.signal}`;
    return { macd: `macd${s}`, signal: `macd_signal${s}`, hist: `macd_hist${s}` };
  },
  bollinger(c: BollingerConfig): { upper: string; middle: string; lower: string } {
    const s = sameBollinger(c) ? '' : `_${c.period}_${c.stdDev}`;
    return { upper: `bb_upper${s}`, middle: `bb_middle${s}`, lower: `bb_lower${s}` };
  },
  stochastic(c: StochasticConfig): { k: string; d: string } {
    const s = sameStochastic(c) ? '' : `_${c.period}_${c.signal}`;
    return { k: `stoch_k${s}`, d: `stoch_d${s}` };
  },
  adx(period: number): { adx: string; pdi: string; mdi: string } {
    const s = period === DEFAULT_ADX_PERIOD ? '' : `_${period}`;
    return { adx: `adx${s}`, pdi: `pdi${s}`, mdi: `mdi${s}` };
  },
  obv: 'obv',
  vwap: 'vwap',
} as const;

/** Every value name a config can produce, in output order. */
export function listIndicatorNames(config: IndicatorSetConfig): string[] {
  const names: string[] = [];
  for (const p of config.sma) names.push(indicatorNames.sma(p));
  for (const p of config.ema) names.push(indicatorNames.ema(p));
  for (const p of config.rsi) names.push(indicatorNames.rsi(p));
  for (const p of config.atr) names.push(indicatorNames.atr(p));
  if (config.macd) names.push(...Object.values(indicatorNames.macd(config.macd)));
  if (config.bollinger) names.push(...Object.values(indicatorNames.bollinger(config.bollinger)));
  if (config.stochastic) names.push(...Object.values(indicatorNames.stochastic(config.stochastic)));
  if (config.adx !== null) names.push(...Object.values(indicatorNames.adx(config.adx)));
  if (config.obv) names.push(indicatorNames.obv);
  if (config.vwap !== null) names.push(indicatorNames.vwap);
  return names;
}

/** Merges over DEFAULT_INDICATOR_CONFIG (or `base`) and validates; throws IndicatorConfigError. */
export function resolveIndicatorConfig(
  partial: Partial<IndicatorSetConfig> = {},
  base: Readonly<IndicatorSetConfig> = DEFAULT_INDICATOR_CONFIG,
): IndicatorSetConfig {
  const c: IndicatorSetConfig = { ...base, ...partial };
  const periods = (family: string, list: readonly number[]): number[] => {
    if (!Array.isArray(list)) throw new IndicatorConfigError(`${family}: expected a list of periods`);
    list.forEach((p) => period(family, p));
    return [...new Set(list)];
  };
  const resolved: IndicatorSetConfig = {
    sma: periods('sma', c.sma),
    ema: periods('ema', c.ema),
    rsi: periods('rsi', c.rsi),
    atr: periods('atr', c.atr),
    macd: c.macd ? { ...c.macd } : null,
    bollinger: c.bollinger ? { ...c.bollinger } : null,
    stochastic: c.stochastic ? { ...c.stochastic } : null,
    adx: c.adx ?? null,
    obv: c.obv,
    vwap: c.vwap ?? null,
  };
  if (resolved.macd) {
    period('macd.fast', resolved.macd.fast);
    period('macd.slow', resolved.macd.slow);
    period('macd.signal', resolved.macd.signal);
    if (resolved.macd.fast >= resolved.macd.slow) {
      throw new IndicatorConfigError(`macd: fast (${resolved.macd.fast}) must be less than slow (${resolved.macd.slow})`);
    }
  }
  if (resolved.bollinger) {
    period('bollinger.period', resolved.bollinger.period);
    const sd = resolved.bollinger.stdDev;
    if (!Number.isFinite(sd) || sd <= 0) throw new IndicatorConfigError(`bollinger.stdDev must be a number > 0, got ${String(sd)}`);
  }
  if (resolved.stochastic) {
    period('stochastic.period', resolved.stochastic.period);
    period('stochastic.signal', resolved.stochastic.signal);
  }
  if (resolved.adx !== null) period('adx', resolved.adx);
  if (resolved.vwap !== null && !['auto', 'utc_day', 'utc_week', 'cumulative'].includes(resolved.vwap)) {
    throw new IndicatorConfigError(`vwap: unknown session "${String(resolved.vwap)}"`);
  }
  return resolved;
}

function period(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 10_000) {
    throw new IndicatorConfigError(`${name}: period must be an integer in [1, 10000], got ${String(value)}`);
  }
}

const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;
/** 1970-01-01 was a Thursday; UTC weeks start on Monday 1970-01-05. */
const MONDAY_OFFSET_MS = 4 * DAY_MS;

/**
 * How many final candles of history warmUp() should get so that values match a set that has run
 * from the start: exponential smoothings (EMA, RSI, ATR, ADX) forget their seed after about ten
 * periods, and VWAP needs the whole current session.
 */
export function warmUpCandleCount(config: IndicatorSetConfig, intervalMs: number): number {
  const longest = Math.max(
    1,
    ...config.sma, ...config.ema, ...config.rsi, ...config.atr,
    config.macd ? config.macd.slow + config.macd.signal : 0,
    config.bollinger?.period ?? 0,
    config.stochastic ? config.stochastic.period + config.stochastic.signal : 0,
    config.adx !== null ? 2 * config.adx : 0,
  );
  const session = vwapSessionMs(config.vwap, intervalMs);
  const sessionCandles = session === null ? 0 : Math.ceil(session / intervalMs);
  return Math.max(10 * longest, sessionCandles);
}

function vwapSessionMs(session: VwapSession | null, intervalMs: number): number | null {
  if (session === null || session === 'cumulative') return null;
  if (session === 'utc_day') return DAY_MS;
  if (session === 'utc_week') return WEEK_MS;
  return intervalMs < DAY_MS ? DAY_MS : WEEK_MS;
}

function vwapSessionKey(session: VwapSession, openTime: number, intervalMs: number): number {
  const ms = vwapSessionMs(session, intervalMs);
  if (ms === null) return 0;
  return ms === WEEK_MS ? Math.floor((openTime - MONDAY_OFFSET_MS) / WEEK_MS) : Math.floor(openTime / ms);
}

// The library's declarations type some nextValue inputs wrongly (ADX takes a number, Stochastic the
// batch input); these are the shapes its code actually reads.
interface HighLowClose { high: number; low: number; close: number }
interface Streaming<I, O> { nextValue(input: I): O | undefined }
const streaming = <I, O>(indicator: object): Streaming<I, O> => indicator as Streaming<I, O>;

// Ignore any global precision set through technicalindicators' setConfig: values stay unrounded.
const exact = (v: number): number => v;

interface Computation {
  next(candle: Candle, out: Record<string, number>): void;
}

export class IndicatorSet {
  readonly config: IndicatorSetConfig;
  private readonly computations: Computation[];
  private lastOpenTime: number | null = null;
  private obvOffset = 0;
  private lastObv: number | undefined;

  constructor(config: Partial<IndicatorSetConfig> = {}) {
    this.config = resolveIndicatorConfig(config);
    this.computations = this.build();
  }

  /** Open time of the last candle applied, or null before the first. */
  get lastCandleOpenTime(): number | null {
    return this.lastOpenTime;
  }

  /** Every value name this set can produce. */
  get names(): string[] {
    return listIndicatorNames(this.config);
  }

  /**
   * Applies one FINAL candle and returns the warmed-up values at its close. Returns null (and
   * changes nothing) for an in-progress candle, a candle not newer than the last one applied (an
   * amendment or a replay: a stream cannot be rewound), or a candle with non-finite numbers.
   */
  update(candle: Candle): Record<string, number> | null {
    if (!candle.is_final) return null;
    if (this.lastOpenTime !== null && candle.open_time <= this.lastOpenTime) return null;
    const nums = [candle.open, candle.high, candle.low, candle.close, candle.volume];
    if (!nums.every(Number.isFinite)) return null;
    this.lastOpenTime = candle.open_time;
    const raw: Record<string, number> = {};
    for (const c of this.computations) c.next(candle, raw);
    const values: Record<string, number> = {};
    for (const [name, v] of Object.entries(raw)) if (Number.isFinite(v)) values[name] = v;
    return values;
  }

  /**
   * Restores from history after a restart: applies the final candles (any order; the highest
   * revision per open time wins), newer than anything already applied. If `anchor` holds the values
   * last emitted for the last history candle, OBV continues from that level rather than from 0.
   */
  warmUp(candles: readonly Candle[], anchor?: { open_time: number; values: Readonly<Record<string, number>> }): void {
    for (const candle of latestFinalPerOpenTime(candles)) this.update(candle);
    const obvAnchor = anchor?.values[indicatorNames.obv];
    if (obvAnchor !== undefined && anchor?.open_time === this.lastOpenTime && this.lastObv !== undefined) {
      this.obvOffset = obvAnchor - (this.lastObv - this.obvOffset);
      this.lastObv = obvAnchor;
    }
  }

  private build(): Computation[] {
    const c = this.config;
    const list: Computation[] = [];
    for (const p of c.sma) {
      const name = indicatorNames.sma(p);
      const sma = new SMA({ period: p, values: [], format: exact });
      list.push({ next: (k, out) => set(out, name, sma.nextValue(k.close)) });
    }
    for (const p of c.ema) {
      const name = indicatorNames.ema(p);
      const ema = new EMA({ period: p, values: [], format: exact });
      list.push({ next: (k, out) => set(out, name, ema.nextValue(k.close)) });
    }
    for (const p of c.rsi) {
      const name = indicatorNames.rsi(p);
      const rsi = new RSI({ period: p, values: [], format: exact });
      list.push({ next: (k, out) => set(out, name, rsi.nextValue(k.close)) });
    }
    for (const p of c.atr) {
      const name = indicatorNames.atr(p);
      const atr = streaming<HighLowClose, number>(new ATR({ period: p, high: [], low: [], close: [], format: exact }));
      list.push({ next: (k, out) => set(out, name, atr.nextValue(hlc(k))) });
    }
    if (c.macd) {
      const names = indicatorNames.macd(c.macd);
      const macd = new MACD({
        fastPeriod: c.macd.fast, slowPeriod: c.macd.slow, signalPeriod: c.macd.signal,
        SimpleMAOscillator: false, SimpleMASignal: false, values: [], format: exact,
      });
      list.push({
        next: (k, out) => {
          const r = macd.nextValue(k.close);
          if (!r) return;
          set(out, names.macd, r.MACD);
          set(out, names.signal, r.signal);
          set(out, names.hist, r.histogram);
        },
      });
    }
    if (c.bollinger) {
      const names = indicatorNames.bollinger(c.bollinger);
      const bb = new BollingerBands({ period: c.bollinger.period, stdDev: c.bollinger.stdDev, values: [], format: exact });
      list.push({
        next: (k, out) => {
          const r = bb.nextValue(k.close);
          if (!r) return;
          set(out, names.upper, r.upper);
          set(out, names.middle, r.middle);
          set(out, names.lower, r.lower);
        },
      });
    }
    if (c.stochastic) {
      const names = indicatorNames.stochastic(c.stochastic);
      const stoch = streaming<HighLowClose, { k: number; d: number | undefined }>(new Stochastic({
        period: c.stochastic.period, signalPeriod: c.stochastic.signal, high: [], low: [], close: [], format: exact,
      }));
      list.push({
        next: (k, out) => {
          const r = stoch.nextValue(hlc(k));
          if (!r) return;
          set(out, names.k, r.k);
          set(out, names.d, r.d);
        },
      });
    }
    if (c.adx !== null) {
      const names = indicatorNames.adx(c.adx);
      const adx = streaming<HighLowClose, { adx: number; pdi: number; mdi: number }>(
        new ADX({ period: c.adx, high: [], low: [], close: [], format: exact }),
      );
      list.push({
        next: (k, out) => {
          const r = adx.nextValue(hlc(k));
          if (!r) return;
          set(out, names.adx, r.adx);
          set(out, names.pdi, r.pdi);
          set(out, names.mdi, r.mdi);
        },
      });
    }
    if (c.obv) {
      const obv = streaming<{ close: number; volume: number }, number>(new OBV({ close: [], volume: [], format: exact }));
      list.push({
        next: (k, out) => {
          const r = obv.nextValue({ close: k.close, volume: k.volume });
          if (r === undefined) return;
          this.lastObv = r + this.obvOffset;
          out[indicatorNames.obv] = this.lastObv;
        },
      });
    }
    if (c.vwap !== null) {
      const session = c.vwap;
      let sessionKey: number | null = null;
      let vwap: Streaming<HighLowClose & { volume: number }, number> | null = null;
      list.push({
        next: (k, out) => {
          const key = vwapSessionKey(session, k.open_time, k.close_time - k.open_time + 1);
          if (vwap === null || key !== sessionKey) {
            sessionKey = key;
            vwap = streaming(new VWAP({ high: [], low: [], close: [], volume: [], format: exact }));
          }
          set(out, indicatorNames.vwap, vwap.nextValue({ ...hlc(k), volume: k.volume }));
        },
      });
    }
    return list;
  }
}

/** Final candles ascending by open time, one per open time (highest revision). */
export function latestFinalPerOpenTime(candles: readonly Candle[]): Candle[] {
  const byOpen = new Map<number, Candle>();
  for (const c of candles) {
    if (!c.is_final) continue;
    const seen = byOpen.get(c.open_time);
    if (!seen || c.revision > seen.revision) byOpen.set(c.open_time, c);
  }
  return [...byOpen.values()].sort((a, b) => a.open_time - b.open_time);
}

function hlc(c: Candle): HighLowClose {
  return { high: c.high, low: c.low, close: c.close };
}

function set(out: Record<string, number>, name: string, value: number | undefined): void {
  if (value !== undefined) out[name] = value;
}
