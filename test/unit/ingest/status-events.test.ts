// The records the exchange ingestors hand to the runtime must be valid under the published Avro
// contracts, so the runtime can encode them without reshaping.
import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { statusUpdate, toControlEvent, toDeadLetter, type IngestRejection } from '../../../ingest/exchange/status-events.ts';
import { klineFromOhlcv, tickFromTicker } from '../../../ingest/exchange/tick-normalizer.ts';

const schema = (file: string): avro.Type =>
  avro.Type.forSchema(JSON.parse(readFileSync(new URL(`../../../schemas/avro/${file}`, import.meta.url), 'utf8')) as avro.Schema);

const errorsOf = (type: avro.Type, value: unknown): string[] => {
  const errors: string[] = [];
  type.isValid(value, { errorHook: (path) => errors.push(path.join('.')) });
  return errors;
};

const NOW = 1_800_000_000_000;

describe('records for the runtime', () => {
  const tick = tickFromTicker(
    { symbol: 'BTC/USDT', timestamp: NOW, last: 43_000, bid: 42_999, ask: 43_001, bidVolume: 1, askVolume: 2, baseVolume: 10, quoteVolume: 430_000 } as never,
    { exchange: 'binance', symbol: 'BTC/USDT', ingestTime: NOW + 5 },
  );

  it('Tick and Kline validate against market.ticks.v1 and market.klines.v1', () => {
    expect(errorsOf(schema('market.ticks.v1.avsc'), tick)).toEqual([]);
    const kline = klineFromOhlcv([NOW - 60_000, 1, 2, 0.5, 1.5, 3], { exchange: 'binance', symbol: 'BTC/USDT', interval: '1m', intervalMs: 60_000, ingestTime: NOW, closed: true, backfill: false });
    expect(errorsOf(schema('market.klines.v1.avsc'), kline)).toEqual([]);
  });

  it('status updates become ControlEvents with deterministic ids', () => {
    const update = statusUpdate('connection.down', 'ingest:binance', NOW, {
      exchange: 'binance', transport: 'websocket', session: 3, upSince: NOW - 10_000, reason: 'socket hang up', errorKind: 'network', error: 'socket hang up',
    }, 'cmd-1');
    const event = toControlEvent(update, NOW + 1);
    expect(errorsOf(schema('control.events.v1.avsc'), event)).toEqual([]);
    expect(event).toMatchObject({ source: 'ingest:binance', kind: 'connection.down', event_time: NOW, ingest_time: NOW + 1, command_id: 'cmd-1' });
    expect(JSON.parse(event.payload_json)).toEqual(update.payload);
    expect(toControlEvent(update).event_id).toBe(event.event_id);
    expect(toControlEvent({ ...update, at: NOW + 1 }).event_id).not.toBe(event.event_id);
  });

  it('rejections become DeadLetters for <topic>.dlq with the reason and the record as JSON', () => {
    const rejection: IngestRejection = {
      topicId: 'ticks', topic: 'market.ticks.v1', key: 'binance:BTC/USDT', exchange: 'binance', symbol: 'BTC/USDT', code: 'non_finite_price',
      reason: 'last is NaN (missing or not a number)', record: { ...tick, last: Number.NaN }, raw: { lastPrice: 'NaN' }, at: NOW,
    };
    const letter = toDeadLetter(rejection);
    expect(errorsOf(schema('dead-letter.v1.avsc'), letter)).toEqual([]);
    expect(letter).toMatchObject({ original_topic: 'market.ticks.v1', stage: 'ingest', reason: 'non_finite_price: last is NaN (missing or not a number)' });
    const body = JSON.parse(letter.payload.toString('utf8')) as { record: { last: unknown }; raw: unknown };
    expect(body.record.last).toBe('NaN');
    expect(body.raw).toEqual({ lastPrice: 'NaN' });
    const unparseable = toDeadLetter({ ...rejection, code: 'unparseable', record: null, raw: '<html>', key: 'binance:*' });
    expect(errorsOf(schema('dead-letter.v1.avsc'), unparseable)).toEqual([]);
    expect(unparseable.event_id).toMatch(/^dlq:unparseable:binance:\*:/);
  });
});
