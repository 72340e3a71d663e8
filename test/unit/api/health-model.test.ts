import { describe, it, expect } from 'vitest';
import { assessExchange, assessFreshness, assessProxy, assessService, assessSink, overallHealth, EXCHANGE_FRESHNESS, type ComponentHealth } from '../../../query-api/health-model.ts';

const NOW = 1_800_000_000_000;

describe('health model rules', () => {
  it('grades freshness: ok, stale (degraded), down, and never seen', () => {
    expect(assessFreshness(1000, EXCHANGE_FRESHNESS).status).toBe('ok');
    expect(assessFreshness(31_000, EXCHANGE_FRESHNESS)).toMatchObject({ status: 'degraded', reason: expect.stringContaining('31 s') });
    expect(assessFreshness(121_000, EXCHANGE_FRESHNESS).status).toBe('down');
    expect(assessFreshness(null, EXCHANGE_FRESHNESS)).toEqual({ status: 'down', reason: 'no data received yet' });
  });

  it('marks a service down with the probe error, and slow probes degraded', () => {
    expect(assessService('kafka', { ok: false, latencyMs: 3000, error: 'ECONNREFUSED' }, NOW)).toMatchObject({ status: 'down', critical: true, reasons: ['unreachable: ECONNREFUSED'], last_seen: null });
    expect(assessService('registry', { ok: true, latencyMs: 2500, error: null }, NOW).status).toBe('degraded');
    expect(assessService('clickhouse', { ok: true, latencyMs: 3, error: null }, NOW)).toMatchObject({ status: 'ok', reasons: [] });
  });

  it('grades the sink by total lag and by paused consumers', () => {
    expect(assessSink({ runsHere: true, lag: [{ topic: 'a', partition: '0', lag: 5 }], pausedConsumers: [] }).status).toBe('ok');
    expect(assessSink({ runsHere: true, lag: [{ topic: 'a', partition: '0', lag: 6000 }, { topic: 'a', partition: '1', lag: 6000 }], pausedConsumers: [] }).status).toBe('degraded');
    expect(assessSink({ runsHere: true, lag: [{ topic: 'a', partition: '0', lag: 200_000 }], pausedConsumers: [] }).status).toBe('down');
    const paused = assessSink({ runsHere: true, lag: [], pausedConsumers: ['clickhouse-sink'] });
    expect(paused.status).toBe('degraded');
    expect(paused.reasons.join()).toContain('clickhouse-sink');
  });

  it('combines an exchange feed\'s freshness with its connection state', () => {
    expect(assessExchange({ exchange: 'binance', lastTickAt: NOW - 1000, status: null }, NOW)).toMatchObject({ name: 'exchange:binance', status: 'ok', freshness_ms: 1000 });
    const backoff = assessExchange({ exchange: 'binance', lastTickAt: NOW - 1000, status: { state: 'backoff', at: NOW, error: { message: '429 rate limited' } } }, NOW);
    expect(backoff.status).toBe('degraded');
    expect(backoff.reasons).toContain('connection backoff: 429 rate limited');
    expect(assessExchange({ exchange: 'kraken', lastTickAt: NOW - 1000, status: { state: 'failed', at: NOW, error: null } }, NOW).status).toBe('down');
    expect(assessExchange({ exchange: 'kraken', lastTickAt: null, status: null }, NOW).status).toBe('down');
    const hb = assessExchange({ exchange: 'kraken', lastTickAt: NOW - 500, status: null, heartbeat: { at: NOW - 100, messageRate: 12.5, reconnects: 3, errors: 1, holes: 0, transport: 'websocket', lastError: { kind: 'timeout', message: 'slow' } } }, NOW);
    expect(hb.details).toMatchObject({ message_rate: 12.5, reconnects: 3, transport: 'websocket', last_error: { message: 'slow' }, heartbeat_at: new Date(NOW - 100).toISOString() });
  });

  it('grades proxy sources by their polling interval, state and last error', () => {
    const st = (state: 'ok' | 'disabled' | 'backoff' | 'error', extra = {}) => ({ source: 'newsapi', state, enabled: state !== 'disabled', interval_ms: 60_000, last_success_at: NOW - 1000, last_error: null, next_poll_at: NOW + 59_000, reported_at: NOW, ...extra });
    const base = { source: 'newsapi', resources: [{ resource: 'articles', last_snapshot_at: NOW - 1000 }] };
    expect(assessProxy({ ...base, status: st('ok'), lastSnapshotAt: NOW - 1000 }, NOW).status).toBe('ok');
    // Two intervals plus a minute: stale; five plus a minute: down.
    expect(assessProxy({ ...base, status: st('ok'), lastSnapshotAt: NOW - 181_000 }, NOW).status).toBe('degraded');
    expect(assessProxy({ ...base, status: st('ok'), lastSnapshotAt: NOW - 361_000 }, NOW).status).toBe('down');
    expect(assessProxy({ ...base, status: st('disabled'), lastSnapshotAt: null }, NOW)).toMatchObject({ status: 'ok', reasons: [expect.stringContaining('disabled')] });
    const err = assessProxy({ ...base, status: st('error', { last_error: { message: 'HTTP 401', at: NOW } }), lastSnapshotAt: NOW - 1000 }, NOW);
    expect(err.status).toBe('degraded');
    expect(err.reasons.join()).toContain('HTTP 401');
    expect(err.details.last_error).toEqual({ message: 'HTTP 401', at: new Date(NOW).toISOString() });
    expect(assessProxy({ ...base, status: null, lastSnapshotAt: null }, NOW).status).toBe('down');
  });

  it('takes the worst critical component, degrades for others, and is down when no feed is live', () => {
    const c = (name: string, kind: ComponentHealth['kind'], status: ComponentHealth['status'], critical: boolean): ComponentHealth => ({ name, kind, status, critical, reasons: [`${name} reason`], freshness_ms: null, last_seen: null, details: {} });
    expect(overallHealth([c('kafka', 'kafka', 'ok', true), c('exchange:a', 'exchange', 'ok', false)]).status).toBe('ok');
    const proxyDown = overallHealth([c('kafka', 'kafka', 'ok', true), c('exchange:a', 'exchange', 'ok', false), c('proxy:x', 'proxy', 'down', false)]);
    expect(proxyDown).toEqual({ status: 'degraded', reasons: ['proxy:x down: proxy:x reason'] });
    expect(overallHealth([c('kafka', 'kafka', 'down', true), c('exchange:a', 'exchange', 'ok', false)]).status).toBe('down');
    const feeds = overallHealth([c('kafka', 'kafka', 'ok', true), c('exchange:a', 'exchange', 'down', false), c('exchange:b', 'exchange', 'down', false)]);
    expect(feeds.status).toBe('down');
    expect(feeds.reasons[0]).toBe('no exchange feed is live');
  });
});
