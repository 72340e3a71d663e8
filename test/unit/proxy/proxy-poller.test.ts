// The pollers against the local fixture servers (loopback HTTP in this process): snapshots per
// source, disabled sources, backoff and recovery, DLQ for invalid bodies, timeouts, 429 and 401.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { startProxyIngest, type ProxyIngest, type SourceStatus } from '../../../ingest/proxy/proxy-ingest.ts';
import { snapshotEventId } from '../../../ingest/proxy/proxy-poller.ts';
import { startFixtureServer, startProxyFixtures, type ProxyFixtures } from '../../../ingest/proxy/fixtures/proxy-fixture-servers.ts';
import { RecordingPublisher, captureLogger, until } from './recording-publisher.ts';

const FAST = {
  PROXY_TIMEOUT_MS: '300', PROXY_BACKOFF_BASE_MS: '50', PROXY_BACKOFF_MAX_MS: '400',
  ...Object.fromEntries(['FEAR_GREED', 'COINMARKETCAP', 'WHALE_ALERT', 'NEWSAPI', 'COINGECKO'].map((s) => [`PROXY_${s}_INTERVAL_MS`, '100'])),
};

describe('proxy pollers against the fixture servers', () => {
  let fx: ProxyFixtures;
  let ingest: ProxyIngest | null = null;
  beforeAll(async () => { fx = await startProxyFixtures(); });
  afterAll(async () => { await fx.close(); });
  afterEach(async () => {
    await ingest?.stop();
    ingest = null;
    for (const s of Object.values(fx.servers)) { s.setMode('ok'); s.requests.length = 0; }
  });

  const start = async (extra: Record<string, string> = {}, drop: string[] = []) => {
    const pub = new RecordingPublisher();
    const cap = captureLogger();
    const env: Record<string, string> = { ...fx.env(), ...FAST, ...extra };
    for (const d of drop) delete env[d];
    ingest = await startProxyIngest({ publisher: pub, log: cap.log, env });
    return { pub, cap, ingest };
  };
  const st = (i: ProxyIngest, source: string): SourceStatus => i.status().find((s) => s.source === source)!;

  it('every source publishes validated, normalized snapshots keyed source:resource', async () => {
    const { pub, ingest: i } = await start();
    const keys = ['fear_greed:index', 'coinmarketcap:listings', 'coinmarketcap:quotes', 'whale_alert:transactions', 'newsapi:articles', 'coingecko:markets', 'coingecko:price'];
    await until(() => keys.every((k) => pub.snapshots.some((s) => s.key === k)), 'a snapshot of every resource');
    for (const k of keys) {
      const s = pub.snapshots.find((x) => x.key === k)!.value;
      expect(`${s.source}:${s.resource}`).toBe(k);
      expect(s.item_count).toBeGreaterThan(0);
      expect(JSON.parse(s.payload_json).items).toHaveLength(s.item_count);
      expect(s.event_id).toMatch(new RegExp(`^proxy:${s.source}:${s.resource}:[0-9a-f]{16}:\\d+$`));
      expect(s.event_time).toBeLessThanOrEqual(s.ingest_time);
    }
    expect(pub.snapshots.find((x) => x.key === 'coingecko:price')!.value.params).toEqual({ ids: 'bitcoin,ethereum,solana', vs_currencies: 'usd' });
    // Keys go where each API documents them.
    expect(fx.servers.coinmarketcap.requests[0]!.headers['x-cmc_pro_api_key']).toBe('cmc-fixture-key');
    expect(fx.servers.whale_alert.requests[0]!.query.api_key).toBe('whale-fixture-key');
    expect(fx.servers.newsapi.requests[0]!.headers['x-api-key']).toBe('news-fixture-key');
    await until(() => i.status().every((s) => s.state === 'ok' && s.last_success_at !== null), 'all ok');
    const status = pub.statusesOf('coinmarketcap').at(-1)!;
    expect(status).toMatchObject({ source: 'coinmarketcap', resources: ['listings', 'quotes'], state: 'ok', enabled: true, interval_ms: 100, last_error: null, consecutive_failures: 0 });
    expect(pub.statuses.at(-1)!.value).toMatchObject({ kind: 'proxy.status', event_type: 'control' });
    expect(pub.statuses.every((s) => s.value.source === s.key)).toBe(true);
    expect(pub.rejected).toEqual([]);
  });

  it('a keyed source without its key is disabled with one log line, reported disabled, and never called', async () => {
    const { pub, cap, ingest: i } = await start({}, ['PROXY_NEWSAPI_API_KEY']);
    await until(() => pub.snapshots.some((s) => s.key === 'coingecko:price'), 'the other sources still publish');
    const lines = cap.lines.filter((l) => String(l.msg).includes('newsapi disabled'));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toBe('proxy source newsapi disabled: PROXY_NEWSAPI_API_KEY is not set');
    expect(st(i, 'newsapi')).toMatchObject({ state: 'disabled', enabled: false, next_poll_at: null });
    expect(pub.statusesOf('newsapi')).toEqual([expect.objectContaining({ state: 'disabled', enabled: false, disabled_reason: 'PROXY_NEWSAPI_API_KEY is not set' })]);
    expect(fx.servers.newsapi.requests).toHaveLength(0);
    expect(pub.snapshots.some((s) => s.value.source === 'newsapi')).toBe(false);
  });

  it('a source answering 5xx backs off with growing failures, reports the error, and recovers when healed; the others carry on', async () => {
    fx.servers.coingecko.setMode('server_error');
    const { pub, ingest: i } = await start();
    const failing = await until(() => { const s = st(i, 'coingecko'); return s.consecutive_failures >= 3 ? s : null; }, '3 consecutive failures');
    expect(failing.state).toBe('backoff');
    expect(failing.last_error!.message).toMatch(/HTTP 503 Service Unavailable/);
    expect(failing.next_poll_at).toBeGreaterThan(failing.last_error!.at);
    expect(pub.statusesOf('coingecko').some((s) => s.state === 'backoff')).toBe(true);
    const before = pub.snapshots.filter((s) => s.value.source === 'fear_greed').length;
    await until(() => pub.snapshots.filter((s) => s.value.source === 'fear_greed').length > before + 2, 'fear_greed keeps publishing');
    expect(pub.snapshots.some((s) => s.value.source === 'coingecko')).toBe(false);

    fx.servers.coingecko.setMode('ok');
    await until(() => pub.snapshots.some((s) => s.key === 'coingecko:markets'), 'coingecko snapshots after healing');
    await until(() => st(i, 'coingecko').state === 'ok', 'coingecko ok');
    expect(st(i, 'coingecko')).toMatchObject({ consecutive_failures: 0 });
    expect(st(i, 'coingecko').last_error).not.toBeNull(); // the last error stays visible
    expect(pub.statusesOf('coingecko').at(-1)).toMatchObject({ state: 'ok', consecutive_failures: 0 });
  });

  it.each([
    ['invalid_json', /response is not JSON/],
    ['wrong_shape', /does not match the documented fear_greed\/index shape/],
  ] as const)('%s: the body goes to the DLQ with its reason and the source backs off', async (mode, reason) => {
    fx.servers.fear_greed.setMode(mode);
    const { pub, ingest: i } = await start({ PROXY_SOURCES: 'fear_greed' });
    const r = await until(() => pub.rejected[0], 'a rejected body');
    expect(r).toMatchObject({ topicId: 'proxySnapshots', key: 'fear_greed:index' });
    expect(r.reason).toMatch(reason);
    expect((r.raw as { body: string }).body.length).toBeGreaterThan(0);
    await until(() => st(i, 'fear_greed').state === 'backoff', 'backoff');
    expect(pub.snapshots).toEqual([]);
  });

  it('a stalled server times out and counts as a failure', async () => {
    fx.servers.whale_alert.setMode('stall');
    const { ingest: i } = await start({ PROXY_SOURCES: 'whale_alert', PROXY_TIMEOUT_MS: '150' });
    const s = await until(() => { const x = st(i, 'whale_alert'); return x.consecutive_failures >= 1 ? x : null; }, 'a timeout');
    expect(s.state).toBe('backoff');
    expect(s.last_error!.message).toMatch(/no answer within 150 ms/);
    expect(s.last_error!.message).not.toContain('whale-fixture-key');
  });

  it('a 429 waits at least its Retry-After', async () => {
    fx.servers.newsapi.setMode('rate_limited', { retryAfterS: 30 });
    const { ingest: i } = await start({ PROXY_SOURCES: 'newsapi' });
    const s = await until(() => { const x = st(i, 'newsapi'); return x.consecutive_failures >= 1 ? x : null; }, 'a 429');
    expect(s.state).toBe('backoff');
    expect(s.last_error!.message).toMatch(/HTTP 429 rateLimited/);
    expect(s.next_poll_at! - s.last_error!.at).toBeGreaterThanOrEqual(30_000);
  });

  it('a key the API rejects (401) puts the source in error, retried at the backoff cap', async () => {
    const { ingest: i } = await start({ PROXY_SOURCES: 'coinmarketcap', PROXY_COINMARKETCAP_API_KEY: 'wrong' });
    const s = await until(() => { const x = st(i, 'coinmarketcap'); return x.consecutive_failures >= 1 ? x : null; }, 'a 401');
    expect(s.state).toBe('error');
    expect(s.last_error!.message).toMatch(/HTTP 401 This API Key is invalid\./);
    expect(s.next_poll_at! - s.last_error!.at).toBe(400);
  });
});

describe('proxy pollers without a server', () => {
  it('an unreachable API is a network failure with backoff; stop() ends polling', async () => {
    const dead = await startProxyFixtures();
    const url = dead.servers.fear_greed.url;
    await dead.close(); // nothing listens on that port any more
    const pub = new RecordingPublisher();
    const { log } = captureLogger();
    const i = await startProxyIngest({ publisher: pub, log, env: { ...FAST, PROXY_SOURCES: 'fear_greed', PROXY_FEAR_GREED_URL: url } });
    const s = await until(() => { const x = i.status()[0]!; return x.consecutive_failures >= 2 ? x : null; }, 'two network failures');
    expect(s).toMatchObject({ source: 'fear_greed', state: 'backoff' });
    expect(s.last_error!.message).toMatch(/^\/fng\/: ECONNREFUSED/);
    await i.stop();
    const after = pub.statuses.length;
    await new Promise((r) => setTimeout(r, 500));
    expect(pub.statuses.length).toBe(after);
  });

  it('a source left out of PROXY_SOURCES is disabled with an info line, not a warning', async () => {
    const pub = new RecordingPublisher();
    const cap = captureLogger();
    const i = await startProxyIngest({ publisher: pub, log: cap.log, env: { PROXY_SOURCES: 'none' } });
    await i.stop();
    expect(i.status().map((s) => s.state)).toEqual(['disabled', 'disabled', 'disabled', 'disabled', 'disabled']);
    const newsLine = cap.lines.find((l) => l.source === 'newsapi')!;
    expect(newsLine).toMatchObject({ level: 30, msg: 'proxy source newsapi disabled: not listed in PROXY_SOURCES' });
    expect(pub.statusesOf('newsapi')).toEqual([expect.objectContaining({ state: 'disabled', disabled_reason: 'not listed in PROXY_SOURCES' })]);
  });
});

describe('fixture servers answer a missing key as the real APIs do', () => {
  let fx: ProxyFixtures;
  beforeAll(async () => { fx = await startProxyFixtures(); });
  afterAll(async () => { await fx.close(); });

  it.each([
    ['coinmarketcap', '/v1/cryptocurrency/listings/latest', { status: { error_code: 1002, error_message: 'API key missing.' } }],
    ['whale_alert', '/v1/transactions', { result: 'error', message: 'invalid api_key' }],
    ['newsapi', '/v2/everything?q=crypto', { status: 'error', code: 'apiKeyMissing' }],
  ] as const)('%s -> 401', async (source, path, body) => {
    const r = await fetch(fx.servers[source].url + path, { signal: AbortSignal.timeout(5_000) });
    expect(r.status).toBe(401);
    expect(await r.json()).toMatchObject(body);
  });
});

describe('snapshot event ids', () => {
  it('are deterministic per payload and interval bucket', () => {
    const a = snapshotEventId('coingecko', 'price', '{"a":1}', 1_000_050, 100);
    expect(a).toBe(snapshotEventId('coingecko', 'price', '{"a":1}', 1_000_099, 100));
    expect(a).toMatch(/^proxy:coingecko:price:[0-9a-f]{16}:10000$/);
    expect(snapshotEventId('coingecko', 'price', '{"a":2}', 1_000_050, 100)).not.toBe(a);
    expect(snapshotEventId('coingecko', 'price', '{"a":1}', 1_000_100, 100)).not.toBe(a);
  });

  it('identical data within one interval is published once, while status keeps coming every poll', async () => {
    const fx = await startFixtureServer('fear_greed', { now: () => 1_796_000_000_000 });
    const pub = new RecordingPublisher();
    const { log } = captureLogger();
    const i = await startProxyIngest({
      publisher: pub, log, now: () => 1_796_000_000_000, // a frozen clock: every poll is in the same bucket
      env: { ...FAST, PROXY_SOURCES: 'fear_greed', PROXY_FEAR_GREED_URL: fx.url, PROXY_FEAR_GREED_LIMIT: '3' },
    });
    try {
      await until(() => pub.statusesOf('fear_greed').length >= 3, 'three polls');
      expect(fx.requests.length).toBeGreaterThanOrEqual(3);
      expect(pub.snapshots).toHaveLength(1);
      expect(pub.snapshots[0]!.value).toMatchObject({ event_time: 1_796_000_000_000, item_count: 3, params: { limit: '3' } });
    } finally {
      await i.stop();
      await fx.close();
    }
  });
});
