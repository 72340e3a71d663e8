import { describe, it, expect } from 'vitest';
import { parseClientMessage } from '../../../query-api/routes/ws.ts';
import { channelOf } from '../../../query-api/fanout.ts';

describe('WebSocket protocol', () => {
  it('maps subscriptions to channels, with interval for candle-like kinds', () => {
    expect(parseClientMessage('{"op":"subscribe","channel":"ticks","symbol":"btc-usdt"}', null)).toEqual({ op: 'subscribe', channel: 'ticks:BTC/USDT' });
    expect(parseClientMessage('{"op":"subscribe","channel":"candles","symbol":"ETH/USDT","interval":"5m"}', null)).toEqual({ op: 'subscribe', channel: 'candles:ETH/USDT:5m' });
    expect(parseClientMessage('{"op":"unsubscribe","channel":"signals","symbol":"ETH/USDT"}', null)).toEqual({ op: 'unsubscribe', channel: 'signals:ETH/USDT:1m' });
    expect(channelOf('candles', { symbol: 'ETH/USDT', interval: '5m' })).toBe('candles:ETH/USDT:5m');
  });

  it('gives alert triggers only to their owner', () => {
    expect(parseClientMessage('{"op":"subscribe","channel":"alerts"}', null)).toEqual({ error: 'the alerts channel needs an authenticated user' });
    expect(parseClientMessage('{"op":"subscribe","channel":"alerts","user":"someone-else"}', 'u1')).toEqual({ op: 'subscribe', channel: 'alerts:u1' });
    expect(channelOf('alerts', { user_id: 'u1', symbol: 'X' })).toBe('alerts:u1');
  });

  it.each([
    ['nope', 'message is not JSON'],
    ['[1]', 'op must be subscribe, unsubscribe or ping'],
    ['{"op":"subscribe","channel":"orders","symbol":"BTC/USDT"}', 'channel must be one of ticks, candles, indicators, signals, predictions, alerts'],
    ['{"op":"subscribe","channel":"ticks"}', 'symbol is required'],
    ['{"op":"subscribe","channel":"candles","symbol":"BTC/USDT","interval":"7m"}', 'interval must be one of 1m, 5m, 15m, 1h, 4h, 1d'],
    [`{"op":"subscribe","channel":"ticks","symbol":"${'A'.repeat(5000)}"}`, 'message over 4096 bytes'],
  ])('answers %s with an error', (raw, error) => {
    expect(parseClientMessage(raw, null)).toEqual({ error });
  });
});
