// Exchange ingest through ccxt's real code paths against simulated Binance and OKX, into the real
// broker and ClickHouse: ticks flow, failover and failback, reconnect and retry-config commands,
// holes recorded and backfilled, and garbage kept out of market.ticks.v1.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startPipeline, type Pipeline } from '../../bin/pipeline.ts';
import { startSimulatedExchange, SIMULATED_DIALECTS, type SimulatedExchange } from '../../ingest/simulated-exchange/simulated-exchange.ts';
import type { Command, DeadLetter } from '../../schemas/generated/events.ts';
import { testEnv, eventually, type TestEnv } from '../support/env.ts';

const markets = [{ symbol: 'BTC/USDT', startPrice: 43_000, volumePerStep: 0.8 }, { symbol: 'ETH/USDT', startPrice: 2_300, volumePerStep: 6 }];

describe('exchange ingest on real services', () => {
  let binance: SimulatedExchange;
  let okx: SimulatedExchange;
  let t: TestEnv;
  let p: Pipeline;
  const q = async <T>(query: string, params: Record<string, unknown> = {}) => (await p.store!.client.query({ query, query_params: params, format: 'JSONEachRow' })).json<T>();
  const command = async (target: string, name: string, params: object) => {
    const now = Date.now();
    const id = `cmd:test:${name}:${now}`;
    const value: Command = { event_id: id, event_type: 'command', schema_version: 1, event_time: now, ingest_time: now, target, command: name, params_json: JSON.stringify(params), requested_by: 'test' };
    await p.publisher.publish('commands', [{ key: target, value }]);
    return id;
  };

  beforeAll(async () => {
    binance = await startSimulatedExchange({ exchange: 'binance', markets, seed: 1, stepMs: 100, port: 0 });
    okx = await startSimulatedExchange({ exchange: 'okx', markets, seed: 2, stepMs: 100, port: 0 });
    const conn = (sim: SimulatedExchange, pollIntervalMs: number) => ({
      ccxtOptions: { ...SIMULATED_DIALECTS[sim.exchangeId].ccxtOptions(sim.url, sim.wsUrl), rateLimit: 1 },
      transport: 'rest', pollIntervalMs, retry: { baseMs: 400, capMs: 800, maxAttempts: 0 }, heartbeatMs: 1000,
      staleAge: { minStaleMs: 400, initialStaleMs: 1500, maxStaleMs: 3000 },
      klines: { intervals: ['1s'], pollIntervalMs: 300, pageLimit: 50, closeGraceMs: 150 },
    });
    t = testEnv({
      TICKFLOW_ROLES: 'ingest,processors', MARKET_SOURCE: 'exchanges', EXCHANGES: 'binance,okx', MARKET_SYMBOLS: 'BTC/USDT,ETH/USDT',
      EXCHANGES_CONFIG: JSON.stringify({ binance: conn(binance, 200), okx: conn(okx, 200), failover: { failbackAfterMs: 1500, evaluateEveryMs: 100, staleAge: { minStaleMs: 600, initialStaleMs: 1500, maxStaleMs: 2500 } } }),
    });
    p = await startPipeline(t.config, t.log);
  });
  afterAll(async () => {
    await p?.stop();
    await binance?.close();
    await okx?.close();
  });

  it('publishes ticks parsed by ccxt from the preferred exchange into Kafka and ClickHouse', async () => {
    const rows = await eventually('ticks of both symbols', async () => {
      const r = await q<{ exchange: string; symbol: string; n: string }>(`SELECT exchange, symbol, count() AS n FROM ticks FINAL GROUP BY exchange, symbol ORDER BY symbol`);
      return r.length === 2 && r.every((x) => Number(x.n) >= 3) ? r : null;
    });
    expect(rows.map((r) => [r.exchange, r.symbol])).toEqual([['binance', 'BTC/USDT'], ['binance', 'ETH/USDT']]);
    const [px] = await q<{ last: number }>(`SELECT last FROM ticks FINAL WHERE symbol = 'BTC/USDT' ORDER BY event_time DESC LIMIT 1`);
    expect(px!.last).toBeGreaterThan(30_000);
    expect(px!.last).toBeLessThan(60_000);
  });

  it('fails over to the secondary when the primary stalls, and back once it recovers', async () => {
    binance.setFault('stall', { symbols: ['BTC/USDT'] });
    const stalledAt = Date.now();
    const away = await eventually('failover to okx', async () =>
      (await q<{ payload_json: string }>(`SELECT payload_json FROM control_events FINAL WHERE kind = 'failover' AND toUnixTimestamp64Milli(event_time) >= {t:Int64}`, { t: stalledAt }))
        .map((r) => JSON.parse(r.payload_json) as { symbol: string; from: string; to: string; staleAgeMs: number })
        .find((f) => f.symbol === 'BTC/USDT' && f.to === 'okx'), 30_000);
    expect(away.from).toBe('binance');
    await eventually('okx ticks for BTC/USDT', async () => (await q<{ n: string }>(`SELECT count() AS n FROM ticks FINAL WHERE exchange = 'okx' AND symbol = 'BTC/USDT'`))[0]!.n !== '0');
    // ETH/USDT never stalled: it stays on binance.
    const [eth] = await q<{ n: string }>(`SELECT count() AS n FROM ticks FINAL WHERE exchange = 'okx' AND symbol = 'ETH/USDT'`);
    expect(Number(eth!.n)).toBe(0);
    binance.setFault('none');
    const healedAt = Date.now();
    await eventually('failback to binance', async () =>
      (await q<{ payload_json: string }>(`SELECT payload_json FROM control_events FINAL WHERE kind = 'failover' AND toUnixTimestamp64Milli(event_time) >= {t:Int64}`, { t: healedAt }))
        .map((r) => JSON.parse(r.payload_json) as { symbol: string; to: string }).find((f) => f.symbol === 'BTC/USDT' && f.to === 'binance'), 30_000);
  });

  it('carries out a reconnect command and records the hole it leaves', async () => {
    const id = await command('exchange:binance', 'reconnect', {});
    const result = await eventually('command.result', async () => (await q<{ payload_json: string }>(`SELECT payload_json FROM control_events FINAL WHERE kind = 'command.result' AND command_id = {id:String}`, { id }))[0]);
    expect(JSON.parse(result.payload_json)).toMatchObject({ ok: true, command: 'reconnect' });
    const downs = await eventually('connection.down for the reconnect', async () => {
      const r = await q<{ payload_json: string }>(`SELECT payload_json FROM control_events FINAL WHERE source = 'ingest:binance' AND kind = 'connection.down'`);
      return r.map((x) => JSON.parse(x.payload_json) as { errorKind: string }).filter((x) => x.errorKind === 'reconnect').length > 0 ? r : null;
    });
    expect(downs.length).toBeGreaterThan(0);
    await eventually('connection.up after it', async () => (await q<{ n: string }>(`SELECT count() AS n FROM control_events FINAL WHERE source = 'ingest:binance' AND kind = 'connection.up'`))[0]!.n !== '0');
  });

  it('uses the backoff a retry-config command sets', async () => {
    okx.setFault('http5xx');
    const id = await command('exchange:okx', 'retry.set', { baseMs: 20, capMs: 40, maxAttempts: 0, multiplier: 2 });
    await eventually('retry.set applied', async () => (await q<{ n: string }>(`SELECT count() AS n FROM control_events FINAL WHERE kind = 'command.result' AND command_id = {id:String}`, { id }))[0]!.n !== '0');
    const after = Date.now();
    const delays = await eventually('backoff statuses after the command', async () => {
      const r = await q<{ payload_json: string }>(`SELECT payload_json FROM control_events FINAL WHERE source = 'ingest:okx' AND kind = 'exchange.status' AND toUnixTimestamp64Milli(event_time) > {t:Int64}`, { t: after });
      const d = r.map((x) => JSON.parse(x.payload_json) as { state: string; delayMs: number | null }).filter((x) => x.state === 'backoff').map((x) => x.delayMs!);
      return d.length >= 3 ? d : null;
    });
    for (const d of delays) expect(d).toBeLessThanOrEqual(40);
    okx.setFault('none');
  });

  it('backfills the klines of a dropped connection and reports the hole closed', async () => {
    binance.setFault('drop');
    await new Promise((r) => setTimeout(r, 3000));
    binance.setFault('none');
    const done = await eventually('completeness after backfill', async () => {
      const r = await q<{ payload_json: string }>(`SELECT payload_json FROM control_events FINAL WHERE source = 'ingest:binance' AND kind = 'completeness'`);
      return r.map((x) => JSON.parse(x.payload_json) as { complete: boolean; holes: Array<{ closed: boolean }> }).find((c) => c.holes.length > 0 && c.holes.every((h) => h.closed));
    }, 30_000);
    expect(done.holes.every((h) => h.closed)).toBe(true);
    const [bf] = await q<{ n: string }>(`SELECT count() AS n FROM klines FINAL WHERE exchange = 'binance' AND backfill`);
    expect(Number(bf!.n)).toBeGreaterThan(0);
    // The same, as analysts query it: the hole in the connection history, and the report.
    const holes = await q<{ kind: string }>(`SELECT kind FROM connection_events WHERE exchange = 'binance' ORDER BY event_time`);
    expect(holes.map((h) => h.kind)).toContain('connection.down');
    const [rep] = await q<{ closed_holes: string; open_holes: string }>(`SELECT closed_holes, open_holes FROM kline_completeness WHERE exchange = 'binance' AND closed_holes > 0 ORDER BY event_time DESC LIMIT 1`);
    expect(Number(rep!.closed_holes)).toBeGreaterThan(0);
    expect(Number(rep!.open_holes)).toBe(0);
  });

  it('keeps garbage and NaN prices out of market.ticks.v1 and sends them to its DLQ with reasons', async () => {
    okx.setFault('nanPrices');
    binance.setFault('stall'); // so okx is active for both symbols and its ticks would be published
    const dead: DeadLetter[] = [];
    const consumer = p.kafka.consumer({ groupId: `${t.prefix}dlq-reader` });
    await consumer.connect();
    await consumer.subscribe({ topic: p.kafka.dlq('ticks'), fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => { dead.push((await p.codec.decodeFor(p.kafka.dlq('ticks'), message.value)) as DeadLetter); } });
    await eventually('dead letters from the NaN prices', async () => dead.filter((d) => d.stage === 'ingest').length >= 3, 30_000);
    okx.setFault('garbage');
    const before = dead.length;
    await eventually('dead letters from garbage', async () => dead.length > before, 30_000);
    await consumer.disconnect();
    binance.setFault('none');
    okx.setFault('none');
    expect(new Set(dead.map((d) => d.reason)).size).toBeGreaterThan(1);
    for (const d of dead) expect(d.reason.length).toBeGreaterThan(5);
    const [bad] = await q<{ n: string }>(`SELECT count() AS n FROM ticks FINAL WHERE NOT (isFinite(last) AND last > 0) OR (bid IS NOT NULL AND ask IS NOT NULL AND bid > ask)`);
    expect(Number(bad!.n)).toBe(0);
  });
}, 300_000);
