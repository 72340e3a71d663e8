import { describe, it, expect } from 'vitest';
import { ConfigError } from '../../../runtime/config.ts';
import { loadProxyConfig } from '../../../ingest/proxy/proxy-config.ts';

const byName = (env: Record<string, string>) => Object.fromEntries(loadProxyConfig(env).sources.map((s) => [s.source.name, s]));

describe('proxy configuration', () => {
  it('defaults: every source listed, documented intervals and production URLs; keyed sources disabled without a key', () => {
    const s = byName({});
    expect(Object.keys(s)).toEqual(['fear_greed', 'coinmarketcap', 'whale_alert', 'newsapi', 'coingecko']);
    expect(s.fear_greed).toMatchObject({ enabled: true, intervalMs: 600_000, baseUrl: 'https://api.alternative.me' });
    expect(s.coingecko).toMatchObject({ enabled: true, intervalMs: 120_000, apiKey: null });
    expect(s.coinmarketcap).toMatchObject({ enabled: false, disabledBy: 'missing_key', disabledReason: 'PROXY_COINMARKETCAP_API_KEY is not set', intervalMs: 600_000 });
    expect(s.whale_alert).toMatchObject({ enabled: false, disabledReason: 'PROXY_WHALE_ALERT_API_KEY is not set', intervalMs: 60_000 });
    expect(s.newsapi).toMatchObject({ enabled: false, disabledReason: 'PROXY_NEWSAPI_API_KEY is not set', intervalMs: 900_000 });
    const cfg = loadProxyConfig({});
    expect(cfg.timeoutMs).toBe(10_000);
    expect(cfg.backoff).toEqual({ baseMs: 5_000, maxMs: 900_000 });
  });

  it('reads URL, key, interval and source settings per source', () => {
    const s = byName({
      PROXY_NEWSAPI_API_KEY: ' k1 ', PROXY_NEWSAPI_URL: 'http://127.0.0.1:9999/', PROXY_NEWSAPI_INTERVAL_MS: '250', PROXY_NEWSAPI_QUERY: 'bitcoin',
      PROXY_COINGECKO_IDS: 'bitcoin,cardano',
    });
    expect(s.newsapi).toMatchObject({ enabled: true, apiKey: 'k1', baseUrl: 'http://127.0.0.1:9999', intervalMs: 250 });
    expect(s.newsapi!.settings).toMatchObject({ QUERY: 'bitcoin', LANGUAGE: 'en', PAGE_SIZE: '20' });
    expect(s.coingecko!.settings.IDS).toBe('bitcoin,cardano');
  });

  it('PROXY_SOURCES selects sources; the others show as disabled with the reason', () => {
    const s = byName({ PROXY_SOURCES: 'coingecko', PROXY_NEWSAPI_API_KEY: 'k' });
    expect(s.coingecko!.enabled).toBe(true);
    expect(s.newsapi).toMatchObject({ enabled: false, disabledBy: 'not_selected', disabledReason: 'not listed in PROXY_SOURCES' });
    expect(Object.values(byName({ PROXY_SOURCES: 'none' })).every((x) => !x.enabled)).toBe(true);
  });

  it.each([
    ['PROXY_SOURCES', 'coingecko,yahoo', /PROXY_SOURCES="coingecko,yahoo": "yahoo" is not one of fear_greed, coinmarketcap/],
    ['PROXY_COINGECKO_INTERVAL_MS', 'fast', /PROXY_COINGECKO_INTERVAL_MS="fast": must be an integer between 10 and 86400000/],
    ['PROXY_FEAR_GREED_INTERVAL_MS', '5', /PROXY_FEAR_GREED_INTERVAL_MS="5": must be an integer/],
    ['PROXY_WHALE_ALERT_URL', 'ftp://whales', /PROXY_WHALE_ALERT_URL="ftp:\/\/whales": must be an http:\/\/ or https:\/\/ URL/],
    ['PROXY_TIMEOUT_MS', '-1', /PROXY_TIMEOUT_MS="-1": must be an integer/],
    ['PROXY_COINMARKETCAP_QUOTE_IDS', 'BTC', /PROXY_COINMARKETCAP_QUOTE_IDS="BTC": must be comma-separated CoinMarketCap ids/],
    ['PROXY_NEWSAPI_PAGE_SIZE', '500', /PROXY_NEWSAPI_PAGE_SIZE="500": must be an integer between 1 and 100/],
  ])('%s=%s stops start-up with one line naming the variable', (name, value, message) => {
    let err: unknown;
    try {
      loadProxyConfig({ [name]: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe(name);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
  });

  it('rejects a backoff cap below its base', () => {
    expect(() => loadProxyConfig({ PROXY_BACKOFF_BASE_MS: '1000', PROXY_BACKOFF_MAX_MS: '10' })).toThrow(/PROXY_BACKOFF_MAX_MS="10": must be at least PROXY_BACKOFF_BASE_MS/);
  });
});
