import { describe, it, expect } from 'vitest';
import { SyntheticMarket } from '../../../ingest/synthetic-market.ts';
import avro from 'avsc';
import { readFileSync } from 'node:fs';

const opts = { symbols: ['BTC/USDT', 'ETH/USDT'], exchanges: ['binance', 'kraken', 'okx'], seed: 42 };

describe('SyntheticMarket', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = new SyntheticMarket(opts).next(1_000, 50);
    const b = new SyntheticMarket(opts).next(1_000, 50);
    const c = new SyntheticMarket({ ...opts, seed: 43 }).next(1_000, 50);
    expect(a).toEqual(b);
    expect(a.map((t) => t.last)).not.toEqual(c.map((t) => t.last));
  });

  it('covers every market, with valid quotes that match the tick schema', () => {
    const type = avro.Type.forSchema(JSON.parse(readFileSync('schemas/avro/market.ticks.v1.avsc', 'utf8')));
    const m = new SyntheticMarket(opts);
    const ticks = Array.from({ length: 200 }, (_, i) => m.next(1_000 + i * 100, 6)).flat();
    expect(new Set(ticks.map((t) => `${t.exchange}:${t.symbol}`)).size).toBe(6);
    expect(new Set(ticks.map((t) => t.event_id)).size).toBe(ticks.length);
    for (const t of ticks) {
      expect(type.isValid(t)).toBe(true);
      expect(t.bid!).toBeLessThan(t.ask!);
      expect(t.last).toBeGreaterThan(0);
    }
  });

  it('prices move like a market: small steps, not a constant', () => {
    const m = new SyntheticMarket({ ...opts, exchanges: ['binance'], symbols: ['BTC/USDT'] });
    const px = Array.from({ length: 1000 }, (_, i) => m.next(i * 1000, 1)[0]!.last);
    const rets = px.slice(1).map((p, i) => Math.log(p / px[i]!));
    expect(Math.max(...rets.map(Math.abs))).toBeLessThan(0.01);
    expect(new Set(px).size).toBeGreaterThan(900);
  });
});
