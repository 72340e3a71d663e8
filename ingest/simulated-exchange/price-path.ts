// A seeded, deterministic price path per market: the price at any time is a pure function of
// (seed, symbol, time), so REST history, ticker snapshots and stream pushes always agree and a
// test can recompute what the exchange "should" have said.

export interface SimulatedMarketSpec {
  /** Unified symbol BASE/QUOTE, e.g. BTC/USDT. */
  symbol: string;
  startPrice: number;
  /** Relative volatility per step (log-return scale); 0.0004 is a lively crypto pair. */
  volatility?: number;
  /** Relative bid/ask spread, e.g. 0.0002. */
  spread?: number;
  /** Mean base volume traded per step. */
  volumePerStep?: number;
  /** How often the stream pushes this market's ticker; a quiet market pushes rarely. */
  pushIntervalMs?: number;
}

export interface MarketQuote {
  /** Exchange timestamp of the quote: the start of the current price step. */
  time: number;
  last: number;
  bid: number;
  ask: number;
  bidSize: number;
  askSize: number;
  lastSize: number;
  open24h: number;
  high24h: number;
  low24h: number;
  baseVolume24h: number;
  quoteVolume24h: number;
}

export interface SimulatedCandle {
  openTime: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  quoteVolume: number;
  trades: number;
}

const DAY_MS = 86_400_000;
const OCTAVES = 14;
const MAX_CANDLE_SAMPLES = 120;

/** 32-bit string hash (FNV-1a). */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Integer hash of (a, b, c) to a float in [0, 1). */
function hash3(a: number, b: number, c: number): number {
  let h = (a ^ Math.imul(b, 0x9e3779b1) ^ Math.imul(c, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  h ^= h >>> 16;
  return (h >>> 0) / 4_294_967_296;
}

export class SeededPricePath {
  readonly spec: Required<SimulatedMarketSpec>;
  private readonly seedHash: number;

  constructor(seed: string | number, spec: SimulatedMarketSpec, readonly stepMs: number) {
    this.spec = {
      volatility: 0.0004,
      spread: 0.0002,
      volumePerStep: 0.5,
      pushIntervalMs: 100,
      ...spec,
    };
    this.seedHash = hashString(`${seed}|${spec.symbol}`);
  }

  step(time: number): number {
    return Math.floor(time / this.stepMs);
  }

  /** Multi-octave value noise: Brownian-like (amplitude grows with sqrt of the scale), O(octaves). */
  priceAtStep(step: number): number {
    let logReturn = 0;
    for (let k = 0; k < OCTAVES; k++) {
      const scale = 2 ** k;
      const x = step / scale;
      const i = Math.floor(x);
      const frac = x - i;
      const a = hash3(this.seedHash, k, i) * 2 - 1;
      const b = hash3(this.seedHash, k, i + 1) * 2 - 1;
      logReturn += (a + (b - a) * frac) * this.spec.volatility * Math.sqrt(scale);
    }
    return this.spec.startPrice * Math.exp(logReturn);
  }

  volumeAtStep(step: number): number {
    return this.spec.volumePerStep * 2 * hash3(this.seedHash, 101, step);
  }

  quoteAt(time: number): MarketQuote {
    const step = this.step(time);
    const last = this.priceAtStep(step);
    const half = (last * this.spec.spread) / 2;
    const dayAgo = this.step(time - DAY_MS);
    const stats = this.rangeStats(dayAgo, step, 48);
    return {
      time: step * this.stepMs,
      last,
      bid: last - half,
      ask: last + half,
      bidSize: 0.1 + 5 * hash3(this.seedHash, 201, step),
      askSize: 0.1 + 5 * hash3(this.seedHash, 202, step),
      lastSize: this.volumeAtStep(step),
      open24h: this.priceAtStep(dayAgo),
      high24h: stats.high,
      low24h: stats.low,
      baseVolume24h: stats.volume,
      quoteVolume24h: stats.volume * last,
    };
  }

  /** The candle over [openTime, openTime + intervalMs), sampled at most MAX_CANDLE_SAMPLES times. */
  candle(openTime: number, intervalMs: number): SimulatedCandle {
    const first = Math.ceil(openTime / this.stepMs);
    const last = Math.max(first, Math.ceil((openTime + intervalMs) / this.stepMs) - 1);
    const stats = this.rangeStats(first, last, MAX_CANDLE_SAMPLES);
    const steps = last - first + 1;
    return {
      openTime,
      open: this.priceAtStep(first),
      high: stats.high,
      low: stats.low,
      close: this.priceAtStep(last),
      volume: stats.volume,
      quoteVolume: stats.volume * this.priceAtStep(last),
      trades: Math.max(1, Math.round(steps * (0.5 + hash3(this.seedHash, 303, first)))),
    };
  }

  private rangeStats(first: number, last: number, maxSamples: number): { high: number; low: number; volume: number } {
    const steps = last - first + 1;
    const samples = Math.min(steps, maxSamples);
    let high = -Infinity;
    let low = Infinity;
    let volume = 0;
    for (let s = 0; s < samples; s++) {
      const step = samples === 1 ? first : first + Math.round((s * (steps - 1)) / (samples - 1));
      const price = this.priceAtStep(step);
      if (price > high) high = price;
      if (price < low) low = price;
      volume += this.volumeAtStep(step);
    }
    return { high, low, volume: (volume / samples) * steps };
  }
}
