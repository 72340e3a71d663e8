// Producing test ticks through the real codec and an idempotent producer.
import { SyntheticMarket } from '../../ingest/synthetic-market.ts';
import type { Tick } from '../../schemas/generated/events.ts';

export function makeTicks(n: number, seed = 7, start = Date.UTC(2026, 0, 5, 12, 0, 0)): Tick[] {
  const m = new SyntheticMarket({ symbols: ['BTC/USDT', 'ETH/USDT'], exchanges: ['binance', 'okx'], seed });
  const out: Tick[] = [];
  for (let i = 0; i < n; i++) out.push(...m.next(start + i * 250, 1, start + i * 250 + 5));
  return out;
}
