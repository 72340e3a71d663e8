// The WebSocket fan-out from Kafka: ticks and candles of a subscribed symbol arrive in order, a
// client that never reads is dropped (close 4008) while the others keep receiving, and alert
// triggers reach their owner only.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import WebSocket from 'ws';
import { startPipeline, type Pipeline } from '../../bin/pipeline.ts';
import { loadJwtSecret, signToken } from '../../query-api/auth.ts';
import { testEnv, eventually } from '../support/env.ts';
import { registry } from '../../runtime/metrics.ts';

type Frame = { op: string; channel?: string; data?: Record<string, number | string | boolean> };

function connect(url: string): Promise<{ ws: WebSocket; frames: Frame[]; closed: Promise<number> }> {
  const ws = new WebSocket(url);
  const frames: Frame[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as Frame));
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  return new Promise((res, rej) => { ws.once('open', () => res({ ws, frames, closed })); ws.once('error', rej); });
}

describe('WebSocket fan-out', () => {
  const t = testEnv({ SYNTHETIC_TICKS_PER_SECOND: '1500', MARKET_SYMBOLS: 'BTC/USDT,ETH/USDT,SOL/USDT', SYNTHETIC_EXCHANGES: 'binance,kraken', WS_MAX_BUFFERED_BYTES: '65536', PROXY_SOURCES: 'none' });
  let p: Pipeline;
  let base: string;
  beforeAll(async () => {
    p = await startPipeline(t.config, t.log);
    base = `${p.apiUrl!.replace('http', 'ws')}/api/v1/ws`;
  });
  afterAll(async () => { await p?.stop(); });

  it('delivers ticks and candles of a symbol in order', async () => {
    const c = await connect(base);
    c.ws.send(JSON.stringify({ op: 'subscribe', channel: 'ticks', symbol: 'BTC/USDT' }));
    c.ws.send(JSON.stringify({ op: 'subscribe', channel: 'candles', symbol: 'BTC/USDT', interval: '1m' }));
    await eventually('ticks and candles', async () => {
      const ev = c.frames.filter((f) => f.op === 'event');
      return ev.some((f) => f.channel === 'candles:BTC/USDT:1m') && ev.filter((f) => f.channel === 'ticks:BTC/USDT').length > 50;
    });
    // A tick whose key is not exchange:symbol is decoded and routed by its value. (Keyed by the
    // symbol alone it still lands on the market's partition, so analytics stays consistent.)
    const now = Date.now();
    await p.publisher.publish('ticks', [{ key: 'BTC/USDT', value: { event_id: 'tick:odd-key', event_type: 'tick', schema_version: 1, event_time: now, ingest_time: now, exchange: 'binance', symbol: 'BTC/USDT', last: 100, bid: null, ask: null, bid_size: null, ask_size: null, base_volume: null, quote_volume: null, trade_volume: null, source: 'test' } }]);
    await eventually('odd-key tick', async () => c.frames.some((f) => f.op === 'event' && f.data?.event_id === 'tick:odd-key'));
    c.ws.close();
    const ev = c.frames.filter((f) => f.op === 'event');
    // Only the subscribed channels: the other symbols' ticks were not even decoded.
    expect(new Set(ev.map((f) => f.channel))).toEqual(new Set(['ticks:BTC/USDT', 'candles:BTC/USDT:1m']));
    for (const ex of ['binance', 'kraken']) {
      // In order per market (one partition); the odd-key tick was stamped outside the feed.
      const ticks = ev.filter((f) => f.channel === 'ticks:BTC/USDT' && f.data!.exchange === ex && f.data!.event_id !== 'tick:odd-key').map((f) => Number(f.data!.event_time));
      expect(ticks.length).toBeGreaterThan(0);
      expect([...ticks].sort((a, b) => a - b)).toEqual(ticks);
      // A candle only ever grows within its bucket, and buckets only move forward.
      const candles = ev.filter((f) => f.channel === 'candles:BTC/USDT:1m' && f.data!.exchange === ex).map((f) => [Number(f.data!.open_time), Number(f.data!.trades)] as const);
      for (let i = 1; i < candles.length; i++) {
        expect(candles[i]![0]).toBeGreaterThanOrEqual(candles[i - 1]![0]);
        if (candles[i]![0] === candles[i - 1]![0]) expect(candles[i]![1]).toBeGreaterThanOrEqual(candles[i - 1]![1]);
      }
    }
  });

  it('drops a client that never reads, and the others keep receiving', async () => {
    const reader = await connect(base);
    const stuck = await connect(base);
    for (const c of [reader, stuck]) {
      for (const symbol of ['BTC/USDT', 'ETH/USDT', 'SOL/USDT']) {
        c.ws.send(JSON.stringify({ op: 'subscribe', channel: 'ticks', symbol }));
        c.ws.send(JSON.stringify({ op: 'subscribe', channel: 'candles', symbol, interval: '1m' }));
      }
    }
    await eventually('both subscribed', async () => reader.frames.length > 6 && stuck.frames.length > 6);
    // Stop reading: the kernel buffers fill, then the server's send buffer grows past its limit.
    (stuck.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const clients = async () => ((await (await fetch(`${p.apiUrl}/api/v1/ws/info`)).json()) as { clients: number }).clients;
    await eventually('the server drops the stuck client', async () => (await clients()) === 1, 90_000, 500);
    expect(await registry.getSingleMetricAsString('tickflow_ws_dropped_total')).toMatch(/tickflow_ws_dropped_total\{what="client"\} [1-9]/);
    const droppedAt = reader.frames.length;
    // Reading again, it finds the connection closed (it never read the 4008 frame in time).
    (stuck.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect([4008, 1006]).toContain(await stuck.closed);
    await eventually('the reader keeps receiving', async () => reader.frames.length > droppedAt + 20);
    expect(await clients()).toBe(1);
    reader.ws.close();
  }, 120_000);

  it('sends alert triggers to their owner only', async () => {
    const secret = loadJwtSecret(t.home, undefined);
    const alice = await connect(`${base}?token=${signToken(secret, { id: 'alice', role: 'user' })}`);
    const bob = await connect(`${base}?token=${signToken(secret, { id: 'bob', role: 'user' })}`);
    const anon = await connect(base);
    for (const c of [alice, bob, anon]) c.ws.send(JSON.stringify({ op: 'subscribe', channel: 'alerts' }));
    await eventually('subscriptions answered', async () => [alice, bob, anon].every((c) => c.frames.length > 0));
    expect(anon.frames[0]).toMatchObject({ op: 'error' });
    const now = Date.now();
    await p.publisher.publish('alertTriggers', [{ key: 'a1', value: { event_id: 'alert:a1:x', event_type: 'alert_trigger', schema_version: 1, event_time: now, ingest_time: now, alert_id: 'a1', user_id: 'alice', alert_type: 'price_above', symbol: 'BTC/USDT', value: 70_000, threshold: 69_000, message: 'BTC/USDT above 69000' } }]);
    await eventually("alice's trigger", async () => alice.frames.some((f) => f.op === 'event'));
    await new Promise((r) => setTimeout(r, 1000));
    expect(bob.frames.filter((f) => f.op === 'event')).toEqual([]);
    expect(alice.frames.find((f) => f.op === 'event')).toMatchObject({ channel: 'alerts:alice', data: { alert_id: 'a1', user_id: 'alice' } });
    for (const c of [alice, bob, anon]) c.ws.close();
  });
});
