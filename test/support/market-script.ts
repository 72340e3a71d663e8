// A known tick sequence and the candles it must produce, computed the naive way (group by
// bucket, sort by time) so the processors are checked against an independent reference.
import type { AlertEvent, Tick } from '../../schemas/generated/events.ts';

export const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

/** One tick every `stepMs` for `minutes`, price a slow sine wave around 100 (binance BTC/USDT). */
export function scriptedTicks(minutes: number, stepMs = 10_000, exchange = 'binance', symbol = 'BTC/USDT'): Tick[] {
  const out: Tick[] = [];
  for (let t = T0, i = 0; t < T0 + minutes * 60_000; t += stepMs, i++) {
    const price = Math.round((100 + 10 * Math.sin(i / 40) + (i % 7) * 0.05) * 100) / 100;
    out.push({
      event_id: `tick:${exchange}:${symbol}:${t}`, event_type: 'tick', schema_version: 1, event_time: t, ingest_time: t + 3,
      exchange, symbol, last: price, bid: price - 0.01, ask: price + 0.01, bid_size: 1, ask_size: 1,
      base_volume: null, quote_volume: null, trade_volume: 1 + (i % 3), source: 'test',
    });
  }
  return out;
}

export interface RefCandle { open_time: number; open: number; high: number; low: number; close: number; volume: number; trades: number }

export function referenceCandles(ticks: Tick[], intervalMs: number): RefCandle[] {
  const buckets = new Map<number, Tick[]>();
  for (const t of ticks) {
    const b = Math.floor(t.event_time / intervalMs) * intervalMs;
    buckets.set(b, [...(buckets.get(b) ?? []), t]);
  }
  return [...buckets.entries()].sort(([a], [b]) => a - b).map(([open_time, ts]) => {
    const s = [...ts].sort((a, b) => a.event_time - b.event_time);
    return {
      open_time, open: s[0]!.last, close: s[s.length - 1]!.last,
      high: Math.max(...s.map((x) => x.last)), low: Math.min(...s.map((x) => x.last)),
      volume: s.reduce((v, x) => v + (x.trade_volume ?? 0), 0), trades: s.length,
    };
  });
}

export function alertCreated(alertId: string, userId: string, alertType: string, params: Record<string, string>, symbol = 'BTC/USDT'): AlertEvent {
  return {
    event_id: `alert:${alertId}:1`, event_type: 'alert_event', schema_version: 1, event_time: T0 - 60_000, ingest_time: T0 - 60_000,
    alert_id: alertId, user_id: userId, kind: 'CREATED',
    definition: { alert_type: alertType, symbol, exchange: null, interval: null, params, cooldown_ms: 0, repeat: false, active: true, note: null },
  };
}
