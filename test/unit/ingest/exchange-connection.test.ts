// ExchangeConnection driving real ccxt against the simulated exchange on loopback: streaming and
// polling, outages and reconnects, backoff, backfill and completeness, and data quality.
import { afterEach, describe, expect, it } from 'vitest';
import { ExchangeConnection, type ExchangeConnectionConfig } from '../../../ingest/exchange/exchange-connection.ts';
import { RetryPolicy } from '../../../ingest/exchange/retry-policy.ts';
import { mulberry32 as seededRandom } from '../../../runtime/seeded-random.ts';
import type { RejectCode } from '../../../ingest/exchange/tick-quality-gate.ts';
import type { FaultKind } from '../../../ingest/simulated-exchange/fault-modes.ts';
import { startSimulatedExchange, type SimulatedExchange, type SimulatedExchangeId } from '../../../ingest/simulated-exchange/simulated-exchange.ts';
import { eventually, RecordingSinks, sleep, tickProblems } from './recording-sinks.ts';

let running: { sim: SimulatedExchange; connection: ExchangeConnection }[] = [];

afterEach(async () => {
  for (const { sim, connection } of running) {
    await connection.stop();
    await sim.close();
  }
  running = [];
});

interface Setup {
  exchange?: SimulatedExchangeId;
  symbols?: string[];
  random?: () => number;
  config?: Partial<ExchangeConnectionConfig>;
}

async function connect(setup: Setup = {}): Promise<{ sim: SimulatedExchange; connection: ExchangeConnection; sinks: RecordingSinks }> {
  const exchange = setup.exchange ?? 'binance';
  const sim = await startSimulatedExchange({ exchange, stepMs: 50 });
  const sinks = new RecordingSinks();
  const connection = new ExchangeConnection({
    exchangeId: exchange,
    symbols: setup.symbols ?? ['BTC/USDT', 'ETH/USDT'],
    ccxtOptions: { ...sim.ccxtOptions(), timeout: 1_000 },
    pollIntervalMs: 100,
    retry: { baseMs: 50, capMs: 200 },
    staleAge: { minStaleMs: 400, initialStaleMs: 1_500, maxStaleMs: 3_000 },
    heartbeatMs: 250,
    ...setup.config,
  }, sinks, { random: setup.random });
  running.push({ sim, connection });
  connection.start();
  return { sim, connection, sinks };
}

const backoffs = (sinks: RecordingSinks) => sinks.of('exchange.status').filter((s) => s.payload.state === 'backoff' && s.payload.delayMs !== null);

describe.each(['binance', 'okx'] as const)('%s feed', (exchange) => {
  it('streams tickers through ccxt.pro watchTicker', async () => {
    const { sim, connection, sinks } = await connect({ exchange });
    await eventually(() => ['BTC/USDT', 'ETH/USDT'].every((s) => sinks.ticks.filter((t) => t.symbol === s).length >= 8), 'ticks for both symbols');
    expect(connection.stats().transport).toBe('websocket');
    expect(sinks.of('connection.up')[0]?.payload).toMatchObject({ exchange, transport: 'websocket', downSince: null });
    const now = Date.now();
    for (const t of sinks.ticks) {
      expect(tickProblems(t, now)).toEqual([]);
      expect(t.exchange).toBe(exchange);
      expect(t.last).toBeCloseTo(sim.quote(t.symbol, t.event_time).last, 1);
      expect(t.bid).not.toBeNull();
    }
    expect(new Set(sinks.ticks.map((t) => t.event_id)).size).toBe(sinks.ticks.length);
    for (const symbol of ['BTC/USDT', 'ETH/USDT']) {
      const times = sinks.ticks.filter((t) => t.symbol === symbol).map((t) => t.event_time);
      expect(times).toEqual([...times].sort((a, b) => a - b));
    }
    const heartbeat = await eventually(() => sinks.of('heartbeat').find((h) => h.payload.messages > 0), 'a heartbeat');
    expect(heartbeat.payload).toMatchObject({ exchange, state: 'up', transport: 'websocket', reconnects: 0 });
    expect(heartbeat.payload.messageRate).toBeGreaterThan(0);
    expect(heartbeat.source).toBe(`ingest:${exchange}`);
  });

  it('polls fetchTickers over REST when told to', async () => {
    const { sim, connection, sinks } = await connect({ exchange, config: { transport: 'rest' } });
    await eventually(() => ['BTC/USDT', 'ETH/USDT'].every((s) => sinks.ticks.filter((t) => t.symbol === s).length >= 5), 'polled ticks for both symbols');
    expect(connection.stats().transport).toBe('rest');
    expect(sim.stats().wsConnectionsOpened).toBe(0);
    const path = exchange === 'binance' ? '/api/v3/ticker/24hr' : '/api/v5/market/tickers';
    expect(sim.stats().restByPath[path]).toBeGreaterThanOrEqual(5);
    for (const t of sinks.ticks) expect(t.last).toBeCloseTo(sim.quote(t.symbol, t.event_time).last, 1);
  });

  describe.each(['websocket', 'rest'] as const)('over %s', (transport) => {
    it.each([
      ['nanPrices', ['unparseable', 'non_positive_price', 'non_finite_price', 'crossed_book']],
      ['garbage', exchange === 'binance' ? ['unparseable', 'non_finite_price', 'future_timestamp'] : ['non_finite_price', 'future_timestamp']],
    ] as const)('%s never reaches onTick; each bad message is rejected with a reason', async (fault, expectedCodes) => {
      const { sim, connection, sinks } = await connect({ exchange, symbols: ['BTC/USDT'], config: { transport } });
      await eventually(() => sinks.ticks.length >= 3, 'first ticks');
      sim.setFault(fault as FaultKind);
      await eventually(() => expectedCodes.every((code) => sinks.rejects.some((r) => r.code === code)), `rejections ${expectedCodes.join(', ')}`);
      sim.setFault('none');
      const before = sinks.ticks.length;
      await eventually(() => sinks.ticks.length >= before + 3, 'ticks again after the fault');
      const now = Date.now();
      expect(sinks.ticks.flatMap((t) => tickProblems(t, now))).toEqual([]);
      for (const r of sinks.rejects) {
        expect(r.reason.length).toBeGreaterThan(5);
        expect(r).toMatchObject({ topicId: 'ticks', topic: 'market.ticks.v1' });
        expect(r.key.startsWith(`${exchange}:`)).toBe(true);
      }
      const stats = connection.stats();
      expect(stats.ticksAccepted).toBe(sinks.ticks.length);
      expect(stats.ticksRejected).toBe(sinks.rejects.length);
      for (const code of expectedCodes) expect(stats.rejectsByCode[code as RejectCode]).toBeGreaterThan(0);
      expect(sinks.of('connection.down').map((d) => d.payload.reason)).toEqual([]); // bad data is not an outage
    });
  });
});

describe('outages', () => {
  it('drop: records down/up, backs off, backfills the candles of the hole and reports it closed', async () => {
    const { sim, connection, sinks } = await connect({
      symbols: ['BTC/USDT'],
      config: { klines: { intervals: ['1s'], pollIntervalMs: 200, pageLimit: 2, closeGraceMs: 150 } },
    });
    await eventually(() => sinks.klines.length >= 2, 'live klines');
    sim.setFault('drop');
    const down = await eventually(() => sinks.of('connection.down')[0], 'connection.down');
    expect(down.payload.errorKind).toBe('network');
    const liveBefore = sinks.klines.length;
    await eventually(() => backoffs(sinks).length >= 3 && Date.now() - down.at > 2_500, 'an outage of a few candles');
    expect(sinks.klines.length).toBe(liveBefore); // nothing arrives while the exchange is gone
    sim.setFault('none');
    const up = await eventually(() => sinks.of('connection.up').find((u) => u.payload.downSince !== null), 'connection.up after the outage');
    const report = await eventually(() => sinks.of('completeness')[0], 'completeness report');

    expect(up.payload.downSince).toBe(down.at);
    expect(up.payload.downtimeMs).toBe(up.at - down.at);
    expect(connection.holes()).toEqual([{ from: down.at, to: up.at }]);
    const backfill = sinks.of('kline.backfill')[0];
    expect(backfill?.payload.hole).toEqual({ from: down.at, to: up.at });
    expect(backfill?.payload.fetched).toBeGreaterThanOrEqual(2);

    const spannedFrom = Math.floor(down.at / 1000) * 1000;
    expect(report.payload).toMatchObject({ exchange: 'binance', symbol: 'BTC/USDT', interval: '1s', complete: true, missing: [] });
    expect(report.payload.range.from).toBe(spannedFrom);
    expect(report.payload.expected).toBeGreaterThanOrEqual(2);
    expect(report.payload.holes).toEqual([expect.objectContaining({ from: down.at, to: up.at, missing: 0, closed: true })]);

    // The candles of the hole came from the backfill, and they match the exchange's history.
    const holeCandles = sinks.klines.filter((k) => k.open_time >= spannedFrom && k.open_time < report.payload.range.to);
    expect(holeCandles.length).toBe(report.payload.expected);
    for (const k of holeCandles) {
      expect(k.backfill).toBe(true);
      expect(k.close).toBeCloseTo(sim.candle('BTC/USDT', k.open_time, 1000).close, 1);
    }
    // No gaps anywhere in what this connection published.
    const opens = connection.klineOpenTimes('BTC/USDT', '1s');
    expect(opens.slice(1).map((t, i) => t - (opens[i] ?? 0))).toEqual(opens.slice(1).map(() => 1000));
    expect(connection.completeness('BTC/USDT', '1s', { from: opens[0] ?? 0, to: (opens.at(-1) ?? 0) + 1000 }).complete).toBe(true);
    expect(connection.stats()).toMatchObject({ reconnects: 1, holes: 1, attempts: 0 });
    expect(connection.stats().klinesBackfilled).toBeGreaterThanOrEqual(2);
  });

  it('stall: a silent stream goes stale by its adaptive age and is reconnected', async () => {
    const { sim, connection, sinks } = await connect({ symbols: ['BTC/USDT'] });
    await eventually(() => sinks.ticks.length >= 10, 'ticks');
    sim.setFault('stall');
    const down = await eventually(() => sinks.of('connection.down')[0], 'connection.down on silence');
    expect(down.payload.errorKind).toBe('stale');
    expect(down.payload.reason).toMatch(/^stale: no message for \d+ ms/);
    await eventually(() => (connection.stats().errorsByKind.stale ?? 0) >= 2, 'reconnects that stay silent are stale again');
    sim.setFault('none');
    await eventually(() => sinks.of('connection.up').length >= 2, 'connection.up after the stall');
    const before = sinks.ticks.length;
    await eventually(() => sinks.ticks.length > before + 3, 'ticks flow again');
  });

  it.each([
    ['http429', 'rate_limit'],
    ['http5xx', 'unavailable'],
  ] as const)('%s backs off with the retry policy (full jitter, seeded) and recovers', async (fault, kind) => {
    const retry = { baseMs: 40, capMs: 320 };
    const { sim, connection, sinks } = await connect({ symbols: ['BTC/USDT'], random: seededRandom(11), config: { transport: 'rest', retry } });
    await eventually(() => sinks.ticks.length >= 2, 'ticks');
    sim.setFault(fault);
    await eventually(() => backoffs(sinks).length >= 5, 'five backoffs');
    sim.setFault('none');
    await eventually(() => sinks.of('connection.up').length >= 2, 'recovered');
    const mirror = new RetryPolicy(retry, seededRandom(11));
    const observed = backoffs(sinks).slice(0, 5).map((b) => [b.payload.attempt, b.payload.delayMs]);
    expect(observed).toEqual([1, 2, 3, 4, 5].map((a) => [a, mirror.delayFor(a)]));
    expect(connection.stats().errorsByKind[kind]).toBeGreaterThanOrEqual(5);
    expect(backoffs(sinks)[0]?.payload.error?.kind).toBe(kind);
    expect(connection.stats().attempts).toBe(0);
    expect(sinks.of('connection.down')[0]?.payload.errorKind).toBe(kind);
  });

  it('setRetryConfig changes the backoff actually used', async () => {
    const { sim, connection, sinks } = await connect({ symbols: ['BTC/USDT'], random: () => 0.999, config: { transport: 'rest', retry: { baseMs: 50, capMs: 100 } } });
    await eventually(() => sinks.ticks.length >= 2, 'ticks');
    sim.setFault('http5xx');
    await eventually(() => backoffs(sinks).length >= 3, 'backoffs under the first config');
    expect(backoffs(sinks).every((b) => (b.payload.delayMs ?? Infinity) <= 99)).toBe(true);
    connection.setRetryConfig({ baseMs: 600, capMs: 600 });
    const slow = await eventually(() => backoffs(sinks).find((b) => b.payload.retry.baseMs === 600), 'a backoff under the new config');
    expect(slow.payload.delayMs).toBe(599);
    expect(connection.retryConfig()).toMatchObject({ baseMs: 600, capMs: 600 });
    expect(() => connection.setRetryConfig({ capMs: 10 })).toThrow(/capMs/);
  });

  it('gives up after maxAttempts and a reconnect command brings it back', async () => {
    const { sim, connection, sinks } = await connect({ symbols: ['BTC/USDT'], config: { transport: 'rest', retry: { baseMs: 20, capMs: 40, maxAttempts: 2 } } });
    await eventually(() => sinks.ticks.length >= 2, 'ticks');
    sim.setFault('drop');
    const failed = await eventually(() => sinks.of('exchange.status').find((s) => s.payload.state === 'failed'), 'failed state');
    expect(failed.payload.detail).toMatch(/gave up after 2 attempts/);
    const session = connection.stats().session;
    await sleep(400);
    expect(connection.stats()).toMatchObject({ state: 'failed', session });
    sim.setFault('none');
    connection.reconnect('cmd-42');
    await eventually(() => sinks.of('connection.up').length >= 2, 'up after the reconnect command');
    expect(sinks.of('exchange.status').some((s) => s.commandId === 'cmd-42' && s.payload.detail === 'reconnect requested')).toBe(true);
  });

  it('reconnect() while up ends the session, records the down/up and keeps the data flowing', async () => {
    const { connection, sinks } = await connect({ symbols: ['BTC/USDT'] });
    await eventually(() => sinks.ticks.length >= 3, 'ticks');
    connection.reconnect('cmd-1');
    const down = await eventually(() => sinks.of('connection.down')[0], 'connection.down');
    expect(down.payload.errorKind).toBe('reconnect');
    await eventually(() => sinks.of('connection.up').length >= 2, 'second connection.up');
    expect(connection.stats()).toMatchObject({ reconnects: 1, session: 2, holes: 1 });
    const before = sinks.ticks.length;
    await eventually(() => sinks.ticks.length > before + 2, 'ticks after reconnect');
  });

  it('ignores configured symbols the exchange does not list, and says so', async () => {
    const { connection, sinks } = await connect({ symbols: ['BTC/USDT', 'DOGE/EUR'] });
    await eventually(() => sinks.ticks.length >= 2, 'ticks');
    expect(connection.symbols).toEqual(['BTC/USDT']);
    expect(sinks.of('exchange.status').some((s) => s.payload.detail === 'unknown symbols ignored: DOGE/EUR')).toBe(true);
  });
});
