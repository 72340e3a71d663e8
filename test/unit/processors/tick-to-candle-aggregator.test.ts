import { describe, it, expect } from 'vitest';
import type { Candle } from '../../../schemas/generated/events.ts';
import { ALL_EXCHANGES, TickToCandleAggregator, type TickToCandleAggregatorOptions } from '../../../processors/candles/tick-to-candle-aggregator.ts';
import { MINUTE, T0, tick } from './market-fixtures.ts';

const BTC = 'BTC/USDT';
const oneMinute = (o: TickToCandleAggregatorOptions = {}): TickToCandleAggregator =>
  new TickToCandleAggregator({ intervals: ['1m'], allExchangeCandles: false, updateEveryMs: 0, now: () => 123, ...o });

const finals = (list: Candle[]): Candle[] => list.filter((c) => c.is_final);
const updates = (list: Candle[]): Candle[] => list.filter((c) => !c.is_final);

describe('TickToCandleAggregator', () => {
  it('buckets ticks by event time into UTC-aligned intervals', () => {
    const agg = oneMinute();
    const out = [
      ...agg.process(tick('binance', BTC, T0 + 5, 100)),
      ...agg.process(tick('binance', BTC, T0 + 59_999, 101)),
      ...agg.process(tick('binance', BTC, T0 + MINUTE, 102)),
    ];
    const opens = out.map((c) => c.open_time);
    expect(opens).toEqual([T0, T0, T0 + MINUTE]);
    expect(out[0]!.close_time).toBe(T0 + MINUTE - 1);
    expect(out[0]!.interval).toBe('1m');
    expect(out.every((c) => !c.is_final)).toBe(true);
  });

  it('aligns every default interval to UTC boundaries', () => {
    const agg = new TickToCandleAggregator({ allExchangeCandles: false, updateEveryMs: 0 });
    const t = Date.UTC(2024, 4, 17, 13, 47, 12, 345);
    const out = agg.process(tick('binance', BTC, t, 100));
    const byInterval = Object.fromEntries(out.map((c) => [c.interval, c.open_time]));
    expect(byInterval).toEqual({
      '1m': Date.UTC(2024, 4, 17, 13, 47),
      '5m': Date.UTC(2024, 4, 17, 13, 45),
      '15m': Date.UTC(2024, 4, 17, 13, 45),
      '1h': Date.UTC(2024, 4, 17, 13),
      '4h': Date.UTC(2024, 4, 17, 12),
      '1d': Date.UTC(2024, 4, 17),
    });
    const day = out.find((c) => c.interval === '1d')!;
    expect(day.close_time).toBe(Date.UTC(2024, 4, 18) - 1);
  });

  it('computes OHLCV and the tick count; null trade_volume counts as 0', () => {
    const agg = oneMinute();
    agg.process(tick('binance', BTC, T0 + 1_000, 100, 1.5));
    agg.process(tick('binance', BTC, T0 + 2_000, 105, 2));
    agg.process(tick('binance', BTC, T0 + 3_000, 98, null));
    agg.process(tick('binance', BTC, T0 + 4_000, 101, 0.5));
    const [final] = finals(agg.flush(T0 + MINUTE + 2_000));
    expect(final).toMatchObject({ open: 100, high: 105, low: 98, close: 101, volume: 4, trades: 4, is_final: true, revision: 0 });
  });

  it('keeps open and close by event time when ticks arrive out of order within a bucket', () => {
    const agg = oneMinute();
    agg.process(tick('binance', BTC, T0 + 30_000, 100));
    agg.process(tick('binance', BTC, T0 + 10_000, 90)); // earlier: the real open
    agg.process(tick('binance', BTC, T0 + 50_000, 110)); // latest: the close
    agg.process(tick('binance', BTC, T0 + 40_000, 95)); // earlier than the close: not the close
    const [final] = finals(agg.flush(T0 + 10 * MINUTE));
    expect(final).toMatchObject({ open: 90, high: 110, low: 90, close: 110, trades: 4 });
  });

  it('finalizes only once a tick reaches bucket end + allowed lateness, before the new bucket update', () => {
    const agg = oneMinute({ allowedLatenessMs: 2_000 });
    agg.process(tick('binance', BTC, T0 + 1_000, 100));
    const notYet = agg.process(tick('binance', BTC, T0 + MINUTE + 1_999, 101));
    expect(finals(notYet)).toEqual([]);
    // Inside the allowed lateness the old bucket still takes ticks, as revision 0.
    const stillOpen = agg.process(tick('binance', BTC, T0 + 59_000, 99));
    expect(stillOpen).toHaveLength(1);
    expect(stillOpen[0]).toMatchObject({ open_time: T0, is_final: false, close: 99, trades: 2 });
    const closing = agg.process(tick('binance', BTC, T0 + MINUTE + 2_000, 102));
    expect(closing.map((c) => [c.open_time, c.is_final])).toEqual([[T0, true], [T0 + MINUTE, false]]);
    expect(closing[0]).toMatchObject({ open: 100, close: 99, low: 99, trades: 2, revision: 0, event_time: T0 + MINUTE - 1 });
  });

  it('flush(watermark) finalizes due buckets of idle markets and nothing else', () => {
    const agg = oneMinute();
    agg.process(tick('binance', BTC, T0 + 1_000, 100));
    agg.process(tick('kraken', 'ETH/USDT', T0 + 61_000, 10));
    expect(agg.flush(T0 + MINUTE + 1_999)).toEqual([]);
    const out = agg.flush(T0 + MINUTE + 2_000);
    expect(out.map((c) => [c.exchange, c.open_time, c.is_final])).toEqual([['binance', T0, true]]);
    expect(agg.flush(T0 + MINUTE + 2_000)).toEqual([]);
    const later = agg.flush(T0 + 3 * MINUTE);
    expect(later.map((c) => [c.exchange, c.symbol, c.open_time])).toEqual([['kraken', 'ETH/USDT', T0 + MINUTE]]);
  });

  it('throttles in-progress updates per candle by event time; 0 means every tick', () => {
    const times = [0, 400, 999, 1_000, 1_500, 2_100, 2_200];
    const run = (updateEveryMs: number): number[] => {
      const agg = oneMinute({ updateEveryMs });
      return times.flatMap((t) => updates(agg.process(tick('binance', BTC, T0 + t, 100 + t))).map((c) => c.trades));
    };
    expect(run(1_000)).toEqual([1, 4, 6]);
    expect(run(0)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('amends a final candle with revision + 1 for a late tick within max lateness', () => {
    const agg = oneMinute({ maxLatenessMs: 5 * MINUTE });
    agg.process(tick('binance', BTC, T0 + 1_000, 100, 1));
    agg.process(tick('binance', BTC, T0 + 30_000, 102, 1));
    const closed = finals(agg.process(tick('binance', BTC, T0 + 3 * MINUTE, 103, 1)));
    expect(closed).toHaveLength(1);
    expect(closed[0]).toMatchObject({ revision: 0, high: 102, volume: 2 });

    const amended = agg.process(tick('binance', BTC, T0 + 45_000, 120, 3));
    expect(amended).toHaveLength(1);
    expect(amended[0]).toMatchObject({
      open_time: T0, is_final: true, revision: 1, open: 100, high: 120, low: 100, close: 120, volume: 5, trades: 3,
    });
    const again = agg.process(tick('binance', BTC, T0 + 500, 90, 1));
    expect(again[0]).toMatchObject({ revision: 2, open: 90, low: 90, close: 120, trades: 4 });
    expect(agg.stats.amended).toBe(2);
    expect(agg.lateDropped).toBe(0);
  });

  it('drops and counts ticks later than max lateness', () => {
    const agg = oneMinute({ maxLatenessMs: 5 * MINUTE });
    agg.process(tick('binance', BTC, T0 + 1_000, 100));
    agg.process(tick('binance', BTC, T0 + 10 * MINUTE, 100));
    // 10 minutes behind the watermark: past 5 minutes.
    expect(agg.process(tick('binance', BTC, T0 + 2_000, 150))).toEqual([]);
    expect(agg.lateDropped).toBe(1);
    // 4 minutes behind: amends (its bucket never had a candle, so it gets a final revision 0).
    const gap = agg.process(tick('binance', BTC, T0 + 6 * MINUTE, 99));
    expect(gap).toHaveLength(1);
    expect(gap[0]).toMatchObject({ open_time: T0 + 6 * MINUTE, is_final: true, revision: 0, trades: 1, open: 99 });
    expect(agg.lateDropped).toBe(1);
  });

  it('emits per-exchange candles and the all-exchange "*" candle', () => {
    const agg = new TickToCandleAggregator({ intervals: ['1m'], updateEveryMs: 0, now: () => 1 });
    agg.process(tick('binance', BTC, T0 + 1_000, 100, 1));
    agg.process(tick('coinbase', BTC, T0 + 2_000, 101, 2));
    agg.process(tick('binance', BTC, T0 + 3_000, 99, 3));
    agg.process(tick('binance', 'ETH/USDT', T0 + 4_000, 10, 1));
    const out = finals(agg.flush(T0 + 5 * MINUTE));
    const key = (c: Candle): string => `${c.exchange} ${c.symbol}`;
    expect(out.map(key).sort()).toEqual(['* BTC/USDT', '* ETH/USDT', 'binance BTC/USDT', 'binance ETH/USDT', 'coinbase BTC/USDT']);
    const all = out.find((c) => c.exchange === ALL_EXCHANGES && c.symbol === BTC)!;
    expect(all).toMatchObject({ open: 100, high: 101, low: 99, close: 99, volume: 6, trades: 3 });
    const binance = out.find((c) => c.exchange === 'binance' && c.symbol === BTC)!;
    expect(binance).toMatchObject({ open: 100, close: 99, volume: 4, trades: 2 });
    const coinbase = out.find((c) => c.exchange === 'coinbase')!;
    expect(coinbase).toMatchObject({ open: 101, close: 101, volume: 2, trades: 1 });
  });

  it('produces the same event ids on a replay, with the documented format and injected ingest time', () => {
    const ticks = [1_000, 20_000, 61_000, 62_000, 125_000, 30_000].map((t, i) => tick('binance', BTC, T0 + t, 100 + i));
    const run = (clock: number): Candle[] => {
      const agg = new TickToCandleAggregator({ intervals: ['1m', '5m'], updateEveryMs: 0, now: () => clock });
      return [...ticks.flatMap((t) => agg.process(t)), ...agg.flush(T0 + 10 * MINUTE)];
    };
    const first = run(1);
    const second = run(2);
    expect(second.map((c) => c.event_id)).toEqual(first.map((c) => c.event_id));
    expect(new Set(first.map((c) => c.event_id)).size).toBe(first.length);
    expect(first.every((c) => c.ingest_time === 1)).toBe(true);
    expect(second.every((c) => c.ingest_time === 2)).toBe(true);
    expect(first[0]!.event_id).toBe(`candle:binance:${BTC}:1m:${T0}:0:p1`);
    const amended = first.find((c) => c.interval === '1m' && c.revision === 1)!;
    expect(amended.event_id).toBe(`candle:binance:${BTC}:1m:${T0}:1:f`);
    expect(first.every((c) => c.event_type === 'candle' && c.schema_version === 1)).toBe(true);
  });

  it('resumes from a JSON snapshot exactly where it left off', () => {
    const ticks = Array.from({ length: 200 }, (_, i) => tick(i % 3 ? 'binance' : 'kraken', BTC, T0 + i * 7_300, 100 + Math.sin(i) * 5, i % 4));
    const options: TickToCandleAggregatorOptions = { intervals: ['1m', '5m', '15m'], now: () => 7 };
    const straight = new TickToCandleAggregator(options);
    const expected = ticks.flatMap((t) => straight.process(t));

    const before = new TickToCandleAggregator(options);
    const head = ticks.slice(0, 120).flatMap((t) => before.process(t));
    const state = JSON.parse(JSON.stringify(before.snapshot())) as ReturnType<TickToCandleAggregator['snapshot']>;
    const after = TickToCandleAggregator.restore(state, options);
    const tail = ticks.slice(120).flatMap((t) => after.process(t));
    expect([...head, ...tail]).toEqual(expected);
  });

  it('keeps bounded state: open buckets plus the finals that can still be amended', () => {
    const agg = oneMinute({ maxLatenessMs: 5 * MINUTE });
    for (let i = 0; i < 3 * 24 * 60; i++) agg.process(tick('binance', BTC, T0 + i * MINUTE + 500, 100));
    const [market] = agg.snapshot().markets;
    expect(market!.open.length).toBeLessThanOrEqual(2);
    expect(market!.final.length).toBeLessThanOrEqual(6);
    expect(market!.final.length).toBeGreaterThanOrEqual(1);
  });

  it('rejects ticks with non-finite prices or negative volume without touching state', () => {
    const agg = oneMinute();
    expect(agg.process(tick('binance', BTC, T0, Number.NaN))).toEqual([]);
    expect(agg.process(tick('binance', BTC, T0, 100, -1))).toEqual([]);
    expect(agg.stats.rejected).toBe(2);
    expect(agg.snapshot().markets).toEqual([]);
  });

  it('validates its options', () => {
    expect(() => new TickToCandleAggregator({ intervals: ['2m' as never] })).toThrow(/unknown interval "2m"/);
    expect(() => new TickToCandleAggregator({ allowedLatenessMs: -1 })).toThrow(/allowedLatenessMs/);
  });
});
