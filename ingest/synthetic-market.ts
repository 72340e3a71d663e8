// A seeded synthetic market for offline runs, tests and benchmarks: per symbol a geometric
// random walk with volatility clustering; per exchange a small persistent basis and spread, so
// the same market quoted on several exchanges looks like the real thing. Pure and deterministic:
// the same seed and clock give the same ticks.
import type { Tick } from '../schemas/generated/events.ts';
import { mulberry32 } from '../runtime/seeded-random.ts';

export interface SyntheticMarketOptions {
  symbols: string[];
  exchanges: string[];
  seed: number;
  /** Starting prices; unknown symbols start near 100. */
  startPrices?: Record<string, number>;
  /** Annualized volatility used for the random walk. */
  annualVol?: number;
}

const DEFAULT_PRICES: Record<string, number> = { 'BTC/USDT': 65_000, 'ETH/USDT': 3_200, 'SOL/USDT': 150, 'XRP/USDT': 0.6, 'BNB/USDT': 580, 'ADA/USDT': 0.45 };
const MS_PER_YEAR = 365 * 24 * 3600 * 1000;


interface MarketState { mid: number; vol: number; lastTime: number; seq: number }

export class SyntheticMarket {
  private readonly rand: () => number;
  private readonly mids = new Map<string, MarketState>();
  private readonly basis = new Map<string, number>();
  private cursor = 0;

  constructor(private readonly o: SyntheticMarketOptions) {
    this.rand = mulberry32(o.seed);
    for (const s of o.symbols) {
      this.mids.set(s, { mid: o.startPrices?.[s] ?? DEFAULT_PRICES[s] ?? 100, vol: o.annualVol ?? 0.6, lastTime: 0, seq: 0 });
      for (const e of o.exchanges) this.basis.set(`${e}:${s}`, (this.rand() - 0.5) * 0.0008);
    }
  }

  private gaussian(): number {
    // Box-Muller
    const u = Math.max(this.rand(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.rand());
  }

  /** The next `count` ticks at event time `timeMs`, round-robin over markets. */
  next(timeMs: number, count = 1, ingestTime = timeMs): Tick[] {
    const out: Tick[] = [];
    const markets = this.o.symbols.length * this.o.exchanges.length;
    for (let i = 0; i < count; i++) {
      const idx = this.cursor++ % markets;
      const symbol = this.o.symbols[Math.floor(idx / this.o.exchanges.length)]!;
      const exchange = this.o.exchanges[idx % this.o.exchanges.length]!;
      const st = this.mids.get(symbol)!;
      const dt = st.lastTime === 0 ? 1000 : Math.max(1, timeMs - st.lastTime);
      // Volatility clustering: vol mean-reverts with random shocks.
      st.vol = Math.min(3, Math.max(0.1, st.vol + 0.02 * (0.6 - st.vol) + 0.02 * this.gaussian()));
      const sigma = st.vol * Math.sqrt(dt / MS_PER_YEAR);
      st.mid *= Math.exp(sigma * this.gaussian() - 0.5 * sigma * sigma);
      st.lastTime = Math.max(st.lastTime, timeMs);
      st.seq++;
      const px = st.mid * (1 + this.basis.get(`${exchange}:${symbol}`)!);
      const halfSpread = px * (0.00005 + 0.0001 * this.rand());
      const tradeVolume = roundTo((0.01 + this.rand() * 2) * (1000 / Math.max(px, 1)), 6);
      const last = roundTo(px + (this.rand() - 0.5) * halfSpread, 8);
      out.push({
        event_id: `tick:${exchange}:${symbol}:${timeMs}:${st.seq}`,
        event_type: 'tick',
        schema_version: 1,
        event_time: timeMs,
        ingest_time: ingestTime,
        exchange,
        symbol,
        last,
        bid: roundTo(px - halfSpread, 8),
        ask: roundTo(px + halfSpread, 8),
        bid_size: roundTo(this.rand() * 5, 4),
        ask_size: roundTo(this.rand() * 5, 4),
        base_volume: null,
        quote_volume: null,
        trade_volume: tradeVolume,
        source: 'synthetic',
      });
    }
    return out;
  }
}

function roundTo(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
