import type { OHLCV, Ticker } from 'ccxt';
import { describe, expect, it } from 'vitest';
import { klineFromOhlcv, tickFromTicker } from '../../../ingest/exchange/tick-normalizer.ts';
import { TickQualityGate, validateKline, type TickGateResult } from '../../../ingest/exchange/tick-quality-gate.ts';
import type { Tick } from '../../../schemas/generated/events.ts';

const NOW = 1_800_000_000_000;

function ticker(overrides: Partial<Ticker> = {}): Ticker {
  return {
    symbol: 'BTC/USDT', info: { raw: true }, timestamp: NOW - 100, datetime: undefined, high: 44_000, low: 42_000,
    bid: 43_000, bidVolume: 1.5, ask: 43_001, askVolume: 2, vwap: 43_100, open: 42_500, close: 43_000.5, last: 43_000.5,
    previousClose: undefined, change: 500.5, percentage: 1.2, average: undefined, quoteVolume: 1_000_000, baseVolume: 23.4,
    indexPrice: undefined, markPrice: undefined, ...overrides,
  };
}

const tick = (overrides: Partial<Ticker> = {}, ingestTime = NOW): Tick => tickFromTicker(ticker(overrides), { exchange: 'binance', symbol: 'BTC/USDT', ingestTime });

const rejection = (r: TickGateResult): { code: string; reason: string } | null => ('rejected' in r ? { code: r.rejected, reason: r.reason } : null);

describe('tickFromTicker', () => {
  it('maps ccxt unified fields onto the Tick record with exchange and ingest time', () => {
    const t = tick();
    expect(t).toMatchObject({
      event_type: 'tick', schema_version: 1, exchange: 'binance', symbol: 'BTC/USDT', event_time: NOW - 100, ingest_time: NOW,
      last: 43_000.5, bid: 43_000, ask: 43_001, bid_size: 1.5, ask_size: 2, base_volume: 23.4, quote_volume: 1_000_000,
      trade_volume: null, source: 'ccxt',
    });
  });

  it('gives the same event id to the same ticker seen twice, and a different one when the quote changes', () => {
    const a = tick({}, NOW);
    const b = tick({}, NOW + 5_000); // re-polled later: same fact
    expect(a.event_id).toBe(b.event_id);
    expect(a.event_id.startsWith('binance:BTC/USDT:1799999999900:')).toBe(true);
    expect(tick({ bid: 42_999 }).event_id).not.toBe(a.event_id);
    expect(tick({ timestamp: NOW }).event_id).not.toBe(a.event_id);
    expect(tickFromTicker(ticker(), { exchange: 'okx', symbol: 'BTC/USDT', ingestTime: NOW }).event_id).not.toBe(a.event_id);
  });

  it('keeps what is missing visible: null optional fields, NaN last, ingest time when the exchange gives none', () => {
    const t = tick({ last: undefined, close: undefined, bid: undefined, timestamp: undefined, symbol: undefined });
    expect(t.last).toBeNaN();
    expect(t.bid).toBeNull();
    expect(t.event_time).toBe(NOW);
    expect(t.symbol).toBe('BTC/USDT');
  });
});

describe('klineFromOhlcv', () => {
  it('maps an OHLCV row onto a Kline keyed by its open time', () => {
    const row: OHLCV = [NOW - 60_000, 1, 3, 0.5, 2, 10];
    const k = klineFromOhlcv(row, { exchange: 'okx', symbol: 'ETH/USDT', interval: '1m', intervalMs: 60_000, ingestTime: NOW, closed: true, backfill: true });
    expect(k).toMatchObject({
      event_id: `okx:ETH/USDT:1m:${NOW - 60_000}`, event_type: 'kline', event_time: NOW, open_time: NOW - 60_000,
      open: 1, high: 3, low: 0.5, close: 2, volume: 10, closed: true, backfill: true, interval: '1m',
    });
  });
});

describe('TickQualityGate', () => {
  it('accepts a sane tick', () => {
    const gate = new TickQualityGate();
    expect(gate.check(tick())).toEqual({ ok: tick() });
  });

  it.each([
    ['NaN last', { last: Number.NaN, close: Number.NaN }, 'non_finite_price', /last is NaN/],
    ['missing last', { last: undefined, close: undefined }, 'non_finite_price', /last is NaN \(missing/],
    ['infinite ask', { ask: Number.POSITIVE_INFINITY }, 'non_finite_price', /ask is Infinity/],
    ['zero last', { last: 0 }, 'non_positive_price', /last is 0/],
    ['negative bid', { bid: -1 }, 'non_positive_price', /bid is -1/],
    ['bid above ask', { bid: 43_010, ask: 43_001 }, 'crossed_book', /bid 43010 is above ask 43001/],
    ['negative volume', { baseVolume: -3 }, 'invalid_volume', /base_volume is -3/],
    ['timestamp an hour ahead', { timestamp: NOW + 3_600_000 }, 'future_timestamp', /3600000 ms ahead/],
  ] as const)('rejects %s with a reason', (_name, overrides, code, reason) => {
    const gate = new TickQualityGate({ maxFutureMs: 5_000 });
    const result = gate.check(tick(overrides as Partial<Ticker>), { from: 'exchange' });
    expect(rejection(result)?.code).toBe(code);
    expect(rejection(result)?.reason).toMatch(reason);
    expect('rejected' in result && result.raw).toEqual({ from: 'exchange' });
    expect(gate.counters()).toMatchObject({ accepted: 0, rejected: 1, byCode: { [code]: 1 } });
  });

  it('allows small clock skew into the future', () => {
    expect(new TickQualityGate({ maxFutureMs: 5_000 }).check(tick({ timestamp: NOW + 4_000 }))).toHaveProperty('ok');
  });

  it('rejects exact repeats as duplicates and older ticks as out of order, per market', () => {
    const gate = new TickQualityGate();
    expect(gate.check(tick({ timestamp: NOW - 100 }))).toHaveProperty('ok');
    expect(rejection(gate.check(tick({ timestamp: NOW - 100 }, NOW + 50)))).toEqual({ code: 'duplicate', reason: expect.stringMatching(/same content/) });
    expect(rejection(gate.check(tick({ timestamp: NOW - 500 })))).toEqual({ code: 'out_of_order', reason: expect.stringMatching(/older than the last accepted/) });
    // Same exchange millisecond, new quote: a real update.
    expect(gate.check(tick({ timestamp: NOW - 100, bid: 42_999 }))).toHaveProperty('ok');
    // Unchanged price at a later time is news too (the market is still there).
    expect(gate.check(tick({ timestamp: NOW, bid: 42_999 }))).toHaveProperty('ok');
    // Other markets keep their own order.
    expect(gate.check(tickFromTicker(ticker({ timestamp: NOW - 10_000 }), { exchange: 'okx', symbol: 'BTC/USDT', ingestTime: NOW }))).toHaveProperty('ok');
    expect(gate.check(tickFromTicker(ticker({ symbol: 'ETH/USDT', timestamp: NOW - 10_000 }), { exchange: 'binance', symbol: 'ETH/USDT', ingestTime: NOW }))).toHaveProperty('ok');
    expect(gate.counters()).toMatchObject({ accepted: 5, rejected: 2, byCode: { duplicate: 1, out_of_order: 1 } });
  });

  it('an invalid tick does not move the market forward', () => {
    const gate = new TickQualityGate();
    gate.check(tick({ timestamp: NOW - 100 }));
    expect(rejection(gate.check(tick({ timestamp: NOW, last: -5 })))?.code).toBe('non_positive_price');
    expect(gate.check(tick({ timestamp: NOW - 50 }))).toHaveProperty('ok');
  });

  it('counts messages ccxt could not parse', () => {
    const gate = new TickQualityGate();
    expect(rejection(gate.recordUnparseable('Unexpected token <', '<html>'))).toEqual({ code: 'unparseable', reason: 'Unexpected token <' });
    expect(gate.counters().byCode.unparseable).toBe(1);
  });
});

describe('validateKline', () => {
  const kline = (row: OHLCV) => klineFromOhlcv(row, { exchange: 'binance', symbol: 'BTC/USDT', interval: '1m', intervalMs: 60_000, ingestTime: NOW, closed: true, backfill: false });
  it('accepts a consistent candle and rejects impossible ones with reasons', () => {
    expect(validateKline(kline([NOW - 60_000, 10, 12, 9, 11, 5]), NOW)).toBeNull();
    expect(validateKline(kline([NOW - 60_000, 10, 9, 8, 11, 5]), NOW)?.code).toBe('inconsistent_candle');
    expect(validateKline(kline([NOW - 60_000, Number.NaN, 12, 9, 11, 5]), NOW)?.code).toBe('non_finite_price');
    expect(validateKline(kline([NOW - 60_000, 10, 12, 0, 11, 5]), NOW)?.code).toBe('non_positive_price');
    expect(validateKline(kline([NOW - 60_000, 10, 12, 9, 11, -1]), NOW)?.code).toBe('invalid_volume');
    expect(validateKline(kline([NOW + 3_600_000, 10, 12, 9, 11, 1]), NOW)?.code).toBe('future_timestamp');
  });
});
