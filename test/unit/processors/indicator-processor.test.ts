import { describe, it, expect } from 'vitest';
import { IndicatorProcessor } from '../../../processors/indicators/indicator-processor.ts';
import { HOUR, candles, randomWalk } from './market-fixtures.ts';

describe('IndicatorProcessor', () => {
  it('maps each final candle to one IndicatorValues event with a deterministic id', () => {
    const proc = new IndicatorProcessor({ config: { sma: [3], ema: [], rsi: [], atr: [], macd: null, bollinger: null, stochastic: null, adx: null, obv: false, vwap: null }, now: () => 5 });
    const list = candles([1, 2, 3, 4], { exchange: 'binance' });
    const out = list.flatMap((c) => proc.process(c));
    expect(out).toHaveLength(4);
    expect(out[2]).toEqual({
      event_id: `indicators:binance:BTC/USDT:1h:${list[2]!.open_time}`,
      event_type: 'indicator_values',
      schema_version: 1,
      event_time: list[2]!.close_time,
      ingest_time: 5,
      exchange: 'binance',
      symbol: 'BTC/USDT',
      interval: '1h',
      open_time: list[2]!.open_time,
      close: 3,
      values: { sma_3: 2 },
    });
    expect(out[0]!.values).toEqual({});
  });

  it('ignores in-progress candles, amendments and replays', () => {
    const proc = new IndicatorProcessor();
    const [a, b] = candles([1, 2]);
    expect(proc.process({ ...a!, is_final: false })).toEqual([]);
    expect(proc.process(a!)).toHaveLength(1);
    expect(proc.process({ ...a!, revision: 1, close: 5 })).toEqual([]);
    expect(proc.process(a!)).toEqual([]);
    expect(proc.process(b!)).toHaveLength(1);
  });

  it('keeps one independent IndicatorSet per exchange, symbol and interval', () => {
    const proc = new IndicatorProcessor();
    const btc = candles([1, 2, 3, 4, 5], { symbol: 'BTC/USDT' });
    const eth = candles([50, 40, 30, 20, 10], { symbol: 'ETH/USDT' });
    const btc4h = candles([7, 7, 7, 7, 7], { interval: '4h', intervalMs: 4 * HOUR });
    const out = [0, 1, 2, 3, 4].flatMap((i) => [btc[i]!, eth[i]!, btc4h[i]!].flatMap((c) => proc.process(c)));
    const last = out.slice(-3);
    expect(proc.marketCount).toBe(3);
    expect(last.map((v) => [v.symbol, v.interval, v.values.obv])).toEqual([
      ['BTC/USDT', '1h', 4], ['ETH/USDT', '1h', -4], ['BTC/USDT', '4h', 0],
    ]);
  });

  it('warmUp restores every market from mixed history, then continues exactly', () => {
    const btc = candles(randomWalk(120, 1), { symbol: 'BTC/USDT' });
    const eth = candles(randomWalk(120, 2), { symbol: 'ETH/USDT' });
    const straight = new IndicatorProcessor({ now: () => 0 });
    const expected = [...btc, ...eth].flatMap((c) => straight.process(c));
    const expectedTail = expected.filter((v) => v.open_time >= btc[100]!.open_time);

    const restarted = new IndicatorProcessor({ now: () => 0 });
    restarted.warmUp([...eth.slice(0, 100), ...btc.slice(0, 100)].reverse());
    // The runner may replay candles that were already emitted: they are skipped.
    const replayed = [...btc.slice(90), ...eth.slice(90)].flatMap((c) => restarted.process(c));
    expect(replayed).toEqual(expectedTail);
  });
});
