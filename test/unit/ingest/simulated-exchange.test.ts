// Real ccxt (request building, response parsing, error mapping) against the simulated exchange on
// loopback, in Binance and OKX formats.
import ccxt, { ExchangeNotAvailable, NetworkError, RequestTimeout, type Exchange } from 'ccxt';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyError, createCcxtExchange } from '../../../ingest/exchange/exchange-connection.ts';
import { EXCHANGE_PRESETS, mergeCcxtOptions } from '../../../ingest/exchange/exchange-presets.ts';
import { startSimulatedExchange, type SimulatedExchange, type SimulatedExchangeId } from '../../../ingest/simulated-exchange/simulated-exchange.ts';

const opened: { sim: SimulatedExchange; exchange: Exchange }[] = [];

async function open(id: SimulatedExchangeId, seed: string | number = 'tickflow'): Promise<{ sim: SimulatedExchange; exchange: Exchange }> {
  const sim = await startSimulatedExchange({ exchange: id, seed, stepMs: 100 });
  const exchange = createCcxtExchange(id, mergeCcxtOptions(EXCHANGE_PRESETS[id], sim.ccxtOptions(), { enableRateLimit: true, timeout: 800 }));
  const pair = { sim, exchange };
  opened.push(pair);
  return pair;
}

afterEach(async () => {
  for (const { sim, exchange } of opened.splice(0)) {
    await exchange.close();
    await sim.close();
  }
});

const MINUTE = 60_000;

describe.each(['binance', 'okx'] as const)('ccxt %s against the simulator', (id) => {
  it('loadMarkets, fetchTicker and fetchTickers parse the simulated REST answers', async () => {
    const { sim, exchange } = await open(id);
    expect(exchange).toBeInstanceOf((ccxt as unknown as { pro: Record<string, new () => Exchange> }).pro[id]);
    const markets = await exchange.loadMarkets();
    expect(Object.keys(markets).sort()).toEqual(['BTC/USDT', 'ETH/USDT']);
    const btc = markets['BTC/USDT'];
    expect(btc?.spot).toBe(true);
    expect(btc?.base).toBe('BTC');
    expect(btc?.quote).toBe('USDT');
    expect(btc?.id).toBe(id === 'binance' ? 'BTCUSDT' : 'BTC-USDT');

    const ticker = await exchange.fetchTicker('BTC/USDT');
    expect(ticker.symbol).toBe('BTC/USDT');
    expect(typeof ticker.timestamp).toBe('number');
    const truth = sim.quote('BTC/USDT', ticker.timestamp);
    expect(truth.time).toBe(ticker.timestamp);
    expect(ticker.last).toBeCloseTo(truth.last, 1);
    expect(ticker.bid).toBeCloseTo(truth.bid, 1);
    expect(ticker.ask).toBeCloseTo(truth.ask, 1);
    expect(ticker.bid as number).toBeLessThan(ticker.ask as number);
    expect(ticker.baseVolume).toBeCloseTo(truth.baseVolume24h, 4);
    expect(ticker.quoteVolume).toBeGreaterThan(0);

    const tickers = await exchange.fetchTickers(['BTC/USDT', 'ETH/USDT']);
    expect(Object.keys(tickers).sort()).toEqual(['BTC/USDT', 'ETH/USDT']);
    expect(tickers['ETH/USDT']?.last).toBeCloseTo(sim.quote('ETH/USDT', tickers['ETH/USDT']?.timestamp).last, 1);
  });

  it('fetchOHLCV(since) returns the contiguous candle history the simulator derives from its price path', async () => {
    const { sim, exchange } = await open(id);
    await exchange.loadMarkets();
    const since = Math.floor(Date.now() / MINUTE) * MINUTE - 20 * MINUTE;
    const candles = await exchange.fetchOHLCV('BTC/USDT', '1m', since, 10);
    expect(candles.map((c) => c[0])).toEqual(Array.from({ length: 10 }, (_, i) => since + i * MINUTE));
    for (const [openTime, open, high, low, close, volume] of candles) {
      const truth = sim.candle('BTC/USDT', openTime as number, MINUTE);
      expect(open).toBeCloseTo(truth.open, 1);
      expect(close).toBeCloseTo(truth.close, 1);
      expect(high as number).toBeGreaterThanOrEqual(Math.max(open as number, close as number));
      expect(low as number).toBeLessThanOrEqual(Math.min(open as number, close as number));
      expect(volume).toBeCloseTo(truth.volume, 4);
    }
    const latest = await exchange.fetchOHLCV('BTC/USDT', '1m');
    expect(latest.length).toBeGreaterThan(10);
    expect(latest.at(-1)?.[0]).toBe(Math.floor(Date.now() / MINUTE) * MINUTE);
  });

  it('ccxt.pro watchTicker receives streamed updates with bid and ask', async () => {
    const { sim, exchange } = await open(id);
    await exchange.loadMarkets();
    const first = await exchange.watchTicker('BTC/USDT');
    let second = await exchange.watchTicker('BTC/USDT');
    while (second.timestamp === first.timestamp) second = await exchange.watchTicker('BTC/USDT');
    for (const t of [first, second]) {
      expect(t.symbol).toBe('BTC/USDT');
      expect(t.last).toBeCloseTo(sim.quote('BTC/USDT', t.timestamp).last, 1);
      expect(t.bid as number).toBeGreaterThan(0);
      expect(t.bid as number).toBeLessThan(t.ask as number);
    }
    expect(second.timestamp as number).toBeGreaterThan(first.timestamp as number);
    expect(sim.stats().wsConnectionsOpened).toBeGreaterThanOrEqual(1);
  });

  it('ccxt.pro watchOHLCV receives the forming candle', async () => {
    const { sim, exchange } = await open(id);
    await exchange.loadMarkets();
    const candles = await exchange.watchOHLCV('BTC/USDT', '1m');
    const last = candles.at(-1);
    expect(last?.[0]).toBe(Math.floor(Date.now() / MINUTE) * MINUTE);
    expect(last?.[1]).toBeCloseTo(sim.candle('BTC/USDT', last?.[0] as number, MINUTE).open, 1);
  });

  it('fault modes surface as the ccxt errors a live exchange would cause', async () => {
    const { sim, exchange } = await open(id);
    await exchange.loadMarkets();
    const failure = async (): Promise<unknown> => exchange.fetchTicker('BTC/USDT').then(() => new Error('expected a failure'), (e: unknown) => e);

    sim.setFault('http429');
    const limited = await failure();
    // binance answers DDoSProtection, okx RateLimitExceeded (ccxt's exact-code mapping); both are network-level.
    expect(limited).toBeInstanceOf(NetworkError);
    expect(classifyError(limited)).toBe('rate_limit');

    sim.setFault('http5xx');
    const unavailable = await failure();
    expect(unavailable).toBeInstanceOf(ExchangeNotAvailable);
    expect(classifyError(unavailable)).toBe('unavailable');

    sim.setFault('stall');
    const stalled = await failure();
    expect(stalled).toBeInstanceOf(RequestTimeout);

    sim.setFault('drop');
    const dropped = await failure();
    expect(dropped).toBeInstanceOf(NetworkError);
    expect(classifyError(dropped)).toBe('network');

    sim.setFault('garbage');
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) {
      outcomes.push(await exchange.fetchTicker('BTC/USDT').then(
        (t) => (!Number.isFinite(t.last) ? 'no last' : (t.timestamp ?? 0) > Date.now() + 60_000 ? 'future' : 'plausible'),
        (e: unknown) => classifyError(e),
      ));
    }
    // Non-JSON and wrong shapes make ccxt throw (binance) or parse an empty ticker (okx); the rest
    // parse with a missing price or a timestamp an hour ahead. None of it looks like a valid tick.
    expect(outcomes).not.toContain('plausible');
    expect(outcomes).toContain('no last');
    expect(outcomes).toContain('future');
    if (id === 'binance') expect(outcomes).toContain('parse_error');

    sim.setFault('none');
    const healthy = await exchange.fetchTicker('BTC/USDT');
    expect(healthy.last).toBeGreaterThan(0);
    expect(sim.stats().restStalled).toBe(1);
  });
});

describe('simulator controls', () => {
  it('switches faults through the admin endpoint and rejects unknown kinds', async () => {
    const { sim } = await open('binance');
    const post = (body: unknown): Promise<Response> => fetch(`${sim.url}/__simulator/fault`, { method: 'POST', body: JSON.stringify(body) });
    const ok = await post({ kind: 'stall', symbols: ['BTC/USDT'] });
    expect(ok.status).toBe(200);
    expect(sim.fault()).toMatchObject({ kind: 'stall', symbols: ['BTC/USDT'] });
    const bad = await post({ kind: 'meltdown' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('kind must be one of');
    expect(sim.fault().kind).toBe('stall');
    const current = (await (await fetch(`${sim.url}/__simulator/fault`)).json()) as { kind: string };
    expect(current.kind).toBe('stall');
  });

  it('a scoped stall hangs that market and leaves it out of multi-market answers', async () => {
    const { sim, exchange } = await open('binance');
    await exchange.loadMarkets();
    sim.setFault('stall', { symbols: ['BTC/USDT'] });
    const both = await exchange.fetchTickers(['BTC/USDT', 'ETH/USDT']);
    expect(Object.keys(both)).toEqual(['ETH/USDT']);
    await expect(exchange.fetchTicker('BTC/USDT')).rejects.toBeInstanceOf(RequestTimeout);
    expect((await exchange.fetchTicker('ETH/USDT')).symbol).toBe('ETH/USDT');
  });

  it('the price path is a function of the seed', async () => {
    const a = await open('binance', 1);
    const b = await open('okx', 1);
    const c = await open('binance', 2);
    const t = Math.floor(Date.now() / MINUTE) * MINUTE - 5 * MINUTE;
    expect(a.sim.candle('BTC/USDT', t, MINUTE)).toEqual(b.sim.candle('BTC/USDT', t, MINUTE));
    expect(a.sim.candle('BTC/USDT', t, MINUTE).close).not.toBe(c.sim.candle('BTC/USDT', t, MINUTE).close);
  });
});
