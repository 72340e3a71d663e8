// The proxy ingestors against the real broker and registry: each source publishes snapshots from
// its fixture server and the pipeline's sink projects them into proxy_snapshots; a source without
// its key is reported disabled in control_events; a source answering 5xx backs off and recovers
// once its fixture is healed. An invalid body reaches proxy.snapshots.v1.dlq.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startPipeline, type Pipeline } from '../../bin/pipeline.ts';
import { startProxyIngest, type ProxyIngest } from '../../ingest/proxy/proxy-ingest.ts';
import { startProxyFixtures, type ProxyFixtures } from '../../ingest/proxy/fixtures/proxy-fixture-servers.ts';
import type { DeadLetter, ProxySnapshot } from '../../schemas/generated/events.ts';
import { testEnv, eventually } from '../support/env.ts';

const RESOURCES = ['fear_greed/index', 'coinmarketcap/listings', 'coinmarketcap/quotes', 'whale_alert/transactions', 'coingecko/markets', 'coingecko/price'];

describe('proxy ingest', () => {
  const t = testEnv({ TICKFLOW_ROLES: 'processors' });
  let p: Pipeline;
  let fx: ProxyFixtures;
  let proxy: ProxyIngest;

  const rows = async <T>(query: string, query_params: Record<string, unknown> = {}): Promise<T[]> =>
    (await p.store!.client.query({ query, query_params, format: 'JSONEachRow' })).json<T>();
  const statuses = async (source: string) =>
    (await rows<{ payload_json: string }>(
      "SELECT payload_json FROM control_events FINAL WHERE source = {s:String} AND kind = 'proxy.status' ORDER BY event_time, event_id",
      { s: `proxy:${source}` },
    )).map((r) => JSON.parse(r.payload_json) as { state: string; consecutive_failures: number; enabled: boolean; last_error: { message: string } | null });

  beforeAll(async () => {
    p = await startPipeline(t.config, t.log);
    // NewsAPI runs without its key; CoinGecko starts out failing with 503.
    fx = await startProxyFixtures({ newsapi: null });
    fx.servers.coingecko.setMode('server_error');
    const env: Record<string, string> = {
      ...fx.env(),
      PROXY_TIMEOUT_MS: '2000', PROXY_BACKOFF_BASE_MS: '100', PROXY_BACKOFF_MAX_MS: '800',
      ...Object.fromEntries(['FEAR_GREED', 'COINMARKETCAP', 'WHALE_ALERT', 'NEWSAPI', 'COINGECKO'].map((s) => [`PROXY_${s}_INTERVAL_MS`, '300'])),
    };
    proxy = await startProxyIngest({ publisher: p.publisher, log: t.log, env });
  });
  afterAll(async () => {
    await proxy?.stop();
    await p?.stop();
    await fx?.close();
  });

  it('a source answering 5xx backs off, as control_events shows', async () => {
    await eventually('coingecko backoff with 2+ failures in control_events', async () =>
      (await statuses('coingecko')).some((s) => s.state === 'backoff' && s.consecutive_failures >= 2));
    const s = (await statuses('coingecko')).find((x) => x.state === 'backoff')!;
    expect(s.last_error!.message).toMatch(/HTTP 503/);
    const [n] = await rows<{ n: string }>("SELECT count() AS n FROM proxy_snapshots FINAL WHERE source = 'coingecko'");
    expect(Number(n!.n)).toBe(0);
  });

  it('each keyed-and-healthy source lands snapshots in proxy_snapshots', async () => {
    await eventually('a snapshot of every healthy resource', async () => {
      const got = await rows<{ k: string }>("SELECT DISTINCT concat(source, '/', resource) AS k FROM proxy_snapshots FINAL");
      const have = new Set(got.map((g) => g.k));
      return RESOURCES.filter((r) => !r.startsWith('coingecko')).every((r) => have.has(r));
    });
    const latest = await rows<{ source: string; resource: string; item_count: number; payload_json: string; event_id: string; params: Record<string, string> }>(
      'SELECT source, resource, item_count, payload_json, event_id, params FROM proxy_snapshots FINAL ORDER BY event_time DESC LIMIT 1 BY source, resource',
    );
    for (const r of latest) {
      expect(r.item_count).toBeGreaterThan(0);
      expect((JSON.parse(r.payload_json) as { items: unknown[] }).items).toHaveLength(r.item_count);
      expect(r.event_id.startsWith(`proxy:${r.source}:${r.resource}:`)).toBe(true);
    }
    expect(latest.find((r) => r.resource === 'listings')!.params).toEqual({ start: '1', limit: '100', convert: 'USD' });
  });

  it('the source without its key is reported disabled and publishes nothing', async () => {
    await eventually('newsapi disabled in control_events', async () => (await statuses('newsapi')).some((s) => s.state === 'disabled'));
    expect((await statuses('newsapi')).every((s) => s.state === 'disabled' && !s.enabled)).toBe(true);
    expect(proxy.status().find((s) => s.source === 'newsapi')).toMatchObject({ state: 'disabled', enabled: false });
    expect(fx.servers.newsapi.requests).toHaveLength(0);
  });

  it('the failing source recovers when its fixture is healed', async () => {
    fx.servers.coingecko.setMode('ok');
    await eventually('coingecko markets and price in proxy_snapshots', async () => {
      const got = await rows<{ r: string }>("SELECT DISTINCT resource AS r FROM proxy_snapshots FINAL WHERE source = 'coingecko'");
      return got.length === 2;
    });
    await eventually('coingecko ok again in control_events', async () => {
      const all = await statuses('coingecko');
      const lastBackoff = all.map((s) => s.state).lastIndexOf('backoff');
      return lastBackoff >= 0 && all.slice(lastBackoff + 1).some((s) => s.state === 'ok' && s.consecutive_failures === 0);
    });
  });

  it('snapshots decode from Kafka with the registry codec; an invalid body lands in the DLQ', async () => {
    fx.servers.fear_greed.setMode('wrong_shape');
    const snaps: ProxySnapshot[] = [];
    const dead: DeadLetter[] = [];
    const consumer = p.kafka.consumer({ groupId: `${t.prefix}proxy-reader` });
    await consumer.connect();
    await consumer.subscribe({ topics: [p.kafka.topic('proxySnapshots'), p.kafka.dlq('proxySnapshots')], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        if (topic === p.kafka.dlq('proxySnapshots')) dead.push((await p.codec.decodeFor(topic, message.value)) as DeadLetter);
        else snaps.push(await p.codec.decode('proxySnapshots', message.value));
      },
    });
    try {
      await eventually('a dead letter for fear_greed', async () => dead.some((d) => d.reason.includes('fear_greed/index')));
      await eventually('snapshots of every resource on the topic', async () => RESOURCES.every((r) => snaps.some((s) => `${s.source}/${s.resource}` === r)));
    } finally {
      await consumer.disconnect();
      fx.servers.fear_greed.setMode('ok');
    }
    const d = dead.find((x) => x.reason.includes('fear_greed/index'))!;
    expect(d.original_topic).toBe(p.kafka.topic('proxySnapshots'));
    expect(d.stage).toBe('ingest');
    expect(JSON.parse(d.payload.toString()).body).toContain('not what the documentation promises');
    expect(snaps.every((s) => s.event_type === 'proxy.snapshot' && s.source !== 'newsapi')).toBe(true);
  });
});
