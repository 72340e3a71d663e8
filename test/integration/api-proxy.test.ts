// The proxy routes over what the proxy ingestors store: the latest snapshot with its age, a
// disabled source reported as such, and /proxy/health as the proxy slice of the one health model.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startPipeline, type Pipeline } from '../../bin/pipeline.ts';
import { startProxyIngest, type ProxyIngest } from '../../ingest/proxy/proxy-ingest.ts';
import { startProxyFixtures, type ProxyFixtures } from '../../ingest/proxy/fixtures/proxy-fixture-servers.ts';
import { testEnv, eventually } from '../support/env.ts';

interface Snapshot { available: boolean; data: { items?: unknown[] } | null; item_count: number | null; age_ms: number | null; source_status: string; source_state: string | null; reasons: string[] }

describe('proxy routes', () => {
  // The pipeline's own proxy ingest stays off: this file runs the sources itself, one without its key.
  const t = testEnv({ SYNTHETIC_TICKS_PER_SECOND: '5', MARKET_SYMBOLS: 'BTC/USDT', SYNTHETIC_EXCHANGES: 'binance', PROXY_SOURCES: 'none' });
  let p: Pipeline;
  let fx: ProxyFixtures;
  let proxy: ProxyIngest;
  const get = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${p.apiUrl}${path}`);
    expect(r.status, path).toBe(200);
    return (await r.json()) as T;
  };

  beforeAll(async () => {
    p = await startPipeline(t.config, t.log);
    fx = await startProxyFixtures({ newsapi: null });
    const env: Record<string, string> = {
      ...fx.env(), PROXY_TIMEOUT_MS: '2000',
      ...Object.fromEntries(['FEAR_GREED', 'COINMARKETCAP', 'WHALE_ALERT', 'NEWSAPI', 'COINGECKO'].map((s) => [`PROXY_${s}_INTERVAL_MS`, '60000'])),
    };
    proxy = await startProxyIngest({ publisher: p.publisher, log: t.log, env });
  });
  afterAll(async () => {
    await proxy?.stop();
    await p?.stop();
    await fx?.close();
  });

  it('serves the latest stored snapshot with its age, and cuts lists with limit', async () => {
    const fg = await eventually('a fear & greed snapshot', async () => {
      const s = await get<Snapshot>('/api/v1/proxy/fear-greed');
      return s.available ? s : null;
    });
    expect(fg.item_count).toBeGreaterThan(0);
    expect(fg.data!.items).toHaveLength(fg.item_count!);
    expect(fg.age_ms).toBeGreaterThanOrEqual(0);
    const listings = await eventually('cmc listings', async () => {
      const s = await get<Snapshot>('/api/v1/proxy/coinmarketcap/listings?limit=2');
      return s.available ? s : null;
    });
    expect(listings.data!.items).toHaveLength(2);
    expect(listings.item_count).toBeGreaterThan(2);
  });

  it('reports the source without a key as disabled, with no data', async () => {
    const news = await eventually('newsapi disabled', async () => {
      const s = await get<Snapshot>('/api/v1/proxy/news');
      return s.source_state === 'disabled' ? s : null;
    });
    expect(news).toMatchObject({ available: false, data: null, age_ms: null, source_status: 'ok' });
    expect(news.reasons.join()).toContain('disabled');
  });

  it('reports each source\'s freshness, state and last error in /proxy/health, the same as /monitoring/health', async () => {
    type H = { sources?: Array<{ name: string; status: string; freshness_ms: number | null; details: { state: string | null; last_error: unknown } }>; components?: Array<{ name: string; status: string }> };
    const h = await eventually('fear_greed ok in /proxy/health', async () => {
      const x = await get<H>('/api/v1/proxy/health');
      // The snapshot lands before the poll's proxy.status event; wait for both.
      const f = x.sources!.find((s) => s.name === 'proxy:fear_greed');
      return f?.status === 'ok' && f.details.state === 'ok' ? x : null;
    });
    const fg = h.sources!.find((s) => s.name === 'proxy:fear_greed')!;
    expect(fg.details.state).toBe('ok');
    expect(fg.freshness_ms).not.toBeNull();
    expect(fg.details.last_error).toBeNull();
    expect(h.sources!.find((s) => s.name === 'proxy:newsapi')!.details.state).toBe('disabled');
    const full = await get<H>('/api/v1/monitoring/health');
    for (const s of h.sources!) expect(full.components!.find((c) => c.name === s.name)?.status, s.name).toBe(s.status);
  });
});
