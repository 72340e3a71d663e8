// ExchangeIngestor over two simulated exchanges (Binance streaming as the preferred, OKX polled as
// the fallback), real ccxt on loopback: per-symbol failover and failback, adaptive stale age on a
// quiet market, and the control commands.
import { afterEach, describe, expect, it } from 'vitest';
import { ExchangeIngestor } from '../../../ingest/exchange/exchange-ingestor.ts';
import { startSimulatedExchange, type SimulatedExchange } from '../../../ingest/simulated-exchange/simulated-exchange.ts';
import type { Command } from '../../../schemas/generated/events.ts';
import { eventually, RecordingSinks, sleep } from './recording-sinks.ts';

const MARKETS = [
  { symbol: 'BTC/USDT', startPrice: 43_000, pushIntervalMs: 100 },
  // A quiet market: one streamed update every 700 ms.
  { symbol: 'SOL/USDT', startPrice: 100, pushIntervalMs: 700 },
];
const OKX_POLL_MS = 150;
const EVALUATE_MS = 50;
const STALE = { minStaleMs: 300, initialStaleMs: 2_000, maxStaleMs: 5_000, multiplier: 3 };

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

async function setup(failbackAfterMs = 1_000): Promise<{ binance: SimulatedExchange; okx: SimulatedExchange; ingestor: ExchangeIngestor; sinks: RecordingSinks }> {
  const binance = await startSimulatedExchange({ exchange: 'binance', markets: MARKETS, stepMs: 50 });
  const okx = await startSimulatedExchange({ exchange: 'okx', markets: MARKETS, stepMs: 50 });
  cleanup.push(() => binance.close(), () => okx.close());
  const sinks = new RecordingSinks();
  const common = { symbols: ['BTC/USDT', 'SOL/USDT'], retry: { baseMs: 50, capMs: 200 }, staleAge: { minStaleMs: 2_000 }, heartbeatMs: 0 };
  const ingestor = new ExchangeIngestor({
    exchanges: [
      { ...common, exchangeId: 'binance', ccxtOptions: { ...binance.ccxtOptions(), timeout: 1_000 }, transport: 'websocket' },
      { ...common, exchangeId: 'okx', ccxtOptions: { ...okx.ccxtOptions(), timeout: 1_000 }, transport: 'rest', pollIntervalMs: OKX_POLL_MS },
    ],
    failover: { failbackAfterMs, staleAge: STALE, evaluateEveryMs: EVALUATE_MS },
    heartbeatMs: 0,
  }, sinks);
  ingestor.start();
  cleanup.push(() => ingestor.stop());
  return { binance, okx, ingestor, sinks };
}

const published = (sinks: RecordingSinks, symbol: string, exchange: string) => sinks.ticks.filter((t) => t.symbol === symbol && t.exchange === exchange);
const failovers = (sinks: RecordingSinks, symbol: string) => sinks.of('failover').filter((f) => f.payload.symbol === symbol);

function command(name: string, target: string, params: unknown, id: string): Command {
  const now = Date.now();
  return { event_id: id, event_type: 'command', schema_version: 1, event_time: now, ingest_time: now, target, command: name, params_json: JSON.stringify(params), requested_by: 'test' };
}

describe('ExchangeIngestor failover', () => {
  it('a stalled primary fails over within its stale age plus one poll, and fails back once healthy for failbackAfterMs', async () => {
    const { binance, ingestor, sinks } = await setup();
    await eventually(() => {
      const btc = ingestor.failoverSnapshot().find((s) => s.symbol === 'BTC/USDT');
      return btc?.exchanges.every((e) => e.health === 'healthy') && published(sinks, 'BTC/USDT', 'binance').length >= 15;
    }, 'both exchanges healthy for BTC/USDT, binance publishing');
    expect(ingestor.activeExchange('BTC/USDT')).toBe('binance');
    expect(published(sinks, 'BTC/USDT', 'okx')).toEqual([]); // okx is a warm standby
    expect(ingestor.stats().standbyTicks).toBeGreaterThan(0);

    binance.setFault('stall', { symbols: ['BTC/USDT'] });
    const away = await eventually(() => failovers(sinks, 'BTC/USDT')[0], 'failover away from binance');
    expect(away.payload).toMatchObject({ from: 'binance', to: 'okx', reason: 'stale' });
    expect(away.payload.silenceMs).toBeGreaterThan(away.payload.staleAgeMs);
    await eventually(() => published(sinks, 'BTC/USDT', 'okx').length >= 3, 'BTC/USDT ticks from okx');
    const lastPrimary = Math.max(...published(sinks, 'BTC/USDT', 'binance').map((t) => t.ingest_time));
    const firstSecondary = Math.min(...published(sinks, 'BTC/USDT', 'okx').map((t) => t.ingest_time));
    // Stale age + one poll (+ one evaluation tick), with a generous allowance for a loaded machine.
    expect(firstSecondary - lastPrimary).toBeLessThanOrEqual(away.payload.staleAgeMs + OKX_POLL_MS + EVALUATE_MS + 1_500);
    expect(ingestor.activeExchange('SOL/USDT')).toBe('binance'); // the other symbol was not stalled

    binance.setFault('none');
    const back = await eventually(() => failovers(sinks, 'BTC/USDT')[1], 'failback to binance');
    expect(back.payload).toMatchObject({ from: 'okx', to: 'binance', reason: 'failback' });
    const healthyAgain = sinks.of('exchange.health').filter((h) => h.payload.symbol === 'BTC/USDT' && h.payload.exchange === 'binance' && h.payload.health === 'healthy' && h.at > away.at).at(-1);
    expect(healthyAgain).toBeDefined();
    expect(back.at - (healthyAgain?.at ?? Infinity)).toBeGreaterThanOrEqual(1_000);
    const countAtFailback = published(sinks, 'BTC/USDT', 'binance').length;
    await eventually(() => published(sinks, 'BTC/USDT', 'binance').length > countAtFailback + 3, 'binance publishing again');
    expect(sinks.ticks.filter((t) => t.symbol === 'BTC/USDT' && t.ingest_time > back.at && t.exchange !== 'binance')).toEqual([]);
    expect(sinks.ticks.filter((t) => t.symbol === 'BTC/USDT' && t.ingest_time > away.at && t.ingest_time < back.at && t.exchange !== 'okx')).toEqual([]);
  });

  it('a quiet market is not mistaken for a dead one: its stale age follows its own rhythm', async () => {
    const { ingestor, sinks } = await setup();
    await eventually(() => published(sinks, 'SOL/USDT', 'binance').length >= 6, 'six quiet SOL/USDT updates');
    const sol = published(sinks, 'SOL/USDT', 'binance').map((t) => t.ingest_time);
    const largestGap = Math.max(...sol.slice(1).map((t, i) => t - (sol[i] ?? t)));
    expect(largestGap).toBeGreaterThan(STALE.minStaleMs); // a fixed minStaleMs timeout would have fired
    expect(failovers(sinks, 'SOL/USDT')).toEqual([]);
    expect(sinks.of('exchange.health').filter((h) => h.payload.symbol === 'SOL/USDT' && h.payload.exchange === 'binance' && h.payload.health === 'stale')).toEqual([]);
    expect(published(sinks, 'SOL/USDT', 'okx')).toEqual([]);
    const learned = ingestor.failoverSnapshot().find((s) => s.symbol === 'SOL/USDT')?.exchanges.find((e) => e.exchange === 'binance');
    expect(learned?.staleAgeMs).toBeGreaterThan(largestGap);
    const busy = ingestor.failoverSnapshot().find((s) => s.symbol === 'BTC/USDT')?.exchanges.find((e) => e.exchange === 'binance');
    expect(busy?.staleAgeMs).toBeLessThan(learned?.staleAgeMs ?? 0);
  });

  it('a dropped primary fails over at once; failover.set disables (pinning the preferred) and re-enables', async () => {
    const { binance, ingestor, sinks } = await setup();
    await eventually(() => ingestor.failoverSnapshot().every((s) => s.exchanges.every((e) => e.health === 'healthy')), 'all healthy');
    binance.setFault('drop');
    await eventually(() => failovers(sinks, 'BTC/USDT')[0] && failovers(sinks, 'SOL/USDT')[0], 'both symbols failed over');
    expect(failovers(sinks, 'BTC/USDT')[0]?.payload).toMatchObject({ to: 'okx', reason: 'disconnected' });

    const off = await ingestor.handleCommand(command('failover.set', 'ingest', { enabled: false }, 'cmd-off'));
    expect(off).toEqual({ ok: true, detail: 'failover disabled' });
    expect(failovers(sinks, 'BTC/USDT')[1]?.payload).toMatchObject({ from: 'okx', to: 'binance', reason: 'failover_disabled' });
    expect(sinks.of('command.result').find((r) => r.commandId === 'cmd-off')?.payload).toMatchObject({ command: 'failover.set', ok: true });
    expect(sinks.of('failover.status').find((s) => s.commandId === 'cmd-off')?.payload.enabled).toBe(false);
    const offAt = Date.now();
    await sleep(500);
    expect(sinks.ticks.filter((t) => t.ingest_time > offAt)).toEqual([]); // binance is down and pinned: nothing published
    expect(ingestor.activeExchange('BTC/USDT')).toBe('binance');

    await ingestor.handleCommand(command('failover.set', 'ingest', { enabled: true }, 'cmd-on'));
    await eventually(() => ingestor.activeExchange('BTC/USDT') === 'okx' && sinks.ticks.some((t) => t.exchange === 'okx' && t.ingest_time > offAt + 500), 'okx again once enabled');
  });
});

describe('ExchangeIngestor commands', () => {
  it('reconnect reaches the owning connection; retry.set changes its policy; bad commands are refused with a reason', async () => {
    const { ingestor, sinks } = await setup();
    await eventually(() => sinks.of('connection.up').length >= 2, 'both connections up');

    expect(ingestor.ownsCommand({ target: 'exchange:okx', command: 'reconnect' })).toBe(true);
    expect(ingestor.ownsCommand({ target: 'exchange:kraken', command: 'reconnect' })).toBe(false);
    expect(ingestor.ownsCommand({ target: 'jobs', command: 'train.start' })).toBe(false);

    const reconnect = await ingestor.handleCommand(command('reconnect', 'exchange:okx', {}, 'cmd-r'));
    expect(reconnect.ok).toBe(true);
    const down = await eventually(() => sinks.of('connection.down').find((d) => d.source === 'ingest:okx'), 'okx connection.down');
    expect(down.payload.errorKind).toBe('reconnect');
    await eventually(() => sinks.of('connection.up').filter((u) => u.source === 'ingest:okx').length >= 2, 'okx up again');
    expect(sinks.of('exchange.status').some((s) => s.source === 'ingest:okx' && s.commandId === 'cmd-r')).toBe(true);
    expect(ingestor.connection('binance')?.stats().reconnects).toBe(0);

    const retry = await ingestor.handleCommand(command('retry.set', 'exchange:binance', { baseMs: 123, capMs: 4_567, maxAttempts: 9 }, 'cmd-s'));
    expect(retry.ok).toBe(true);
    expect(ingestor.connection('binance')?.retryConfig()).toEqual({ baseMs: 123, capMs: 4_567, maxAttempts: 9, multiplier: 2 });
    expect(ingestor.connection('okx')?.retryConfig()).toMatchObject({ baseMs: 50, capMs: 200 });
    const all = await ingestor.handleCommand(command('retry.set', 'ingest', { multiplier: 3 }, 'cmd-all'));
    expect(all.ok).toBe(true);
    expect(ingestor.connections().map((c) => c.retryConfig().multiplier)).toEqual([3, 3]);

    const invalid = await ingestor.handleCommand(command('retry.set', 'exchange:okx', { baseMs: 500, capMs: 100 }, 'cmd-bad'));
    expect(invalid).toEqual({ ok: false, detail: 'capMs (100) must be >= baseMs (500)' });
    expect(ingestor.connection('okx')?.retryConfig()).toMatchObject({ baseMs: 50, capMs: 200 });
    expect((await ingestor.handleCommand(command('failover.set', 'ingest', { enabled: 'yes' }, 'cmd-x'))).ok).toBe(false);
    expect((await ingestor.handleCommand(command('reconnect', 'exchange:kraken', {}, 'cmd-k'))).ok).toBe(false);
    expect(sinks.of('command.result').map((r) => [r.commandId, r.payload.ok])).toEqual([
      ['cmd-r', true], ['cmd-s', true], ['cmd-all', true], ['cmd-bad', false], ['cmd-x', false], ['cmd-k', false],
    ]);
  });
});
