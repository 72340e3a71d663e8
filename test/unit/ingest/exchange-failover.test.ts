import { describe, expect, it } from 'vitest';
import { AdaptiveStaleAge } from '../../../ingest/exchange/adaptive-stale-age.ts';
import { ExchangeFailover, type FailoverOutput } from '../../../ingest/exchange/exchange-failover.ts';

const STALE = { minStaleMs: 200, maxStaleMs: 10_000, multiplier: 4, initialStaleMs: 1_000, minSamples: 5 };

/** Feed `exchange` a message every `gapMs` from `from` to `to` (exclusive), collecting outputs. */
function feed(f: ExchangeFailover, exchange: string, from: number, to: number, gapMs: number, out: FailoverOutput[] = []): FailoverOutput[] {
  for (let t = from; t < to; t += gapMs) out.push(...f.onMessage(exchange, t));
  return out;
}

const switches = (out: FailoverOutput[]): Extract<FailoverOutput, { type: 'switched' }>[] =>
  out.filter((o): o is Extract<FailoverOutput, { type: 'switched' }> => o.type === 'switched');

describe('AdaptiveStaleAge', () => {
  it('learns a quiet market: silence a fixed minimum would call dead is normal here', () => {
    const quiet = new AdaptiveStaleAge(STALE, 0);
    for (let t = 0; t <= 10_000; t += 1_000) quiet.observe(t);
    expect(quiet.staleAge()).toBe(4_000);
    expect(quiet.isStale(10_000 + 1_500)).toBe(false); // a fixed 200 ms (minStaleMs) would already be stale
    expect(quiet.isStale(10_000 + 4_001)).toBe(true);
  });

  it('a busy market is stale after a few of its own gaps, never below min, never above max', () => {
    const busy = new AdaptiveStaleAge(STALE, 0);
    for (let t = 0; t <= 2_000; t += 100) busy.observe(t);
    expect(busy.staleAge()).toBe(400);
    const fast = new AdaptiveStaleAge(STALE, 0);
    for (let t = 0; t <= 200; t += 10) fast.observe(t);
    expect(fast.staleAge()).toBe(200);
    const glacial = new AdaptiveStaleAge(STALE, 0);
    for (let t = 0; t <= 200_000; t += 20_000) glacial.observe(t);
    expect(glacial.staleAge()).toBe(10_000);
  });

  it('uses the initial age until enough gaps are known, measured from the start', () => {
    const s = new AdaptiveStaleAge(STALE, 5_000);
    expect(s.staleAge()).toBe(1_000);
    expect(s.isStale(5_900)).toBe(false);
    expect(s.isStale(6_100)).toBe(true);
  });

  it('an outage is clipped to the stale age it broke and does not inflate the estimate', () => {
    const s = new AdaptiveStaleAge(STALE, 0);
    for (let t = 0; t <= 2_000; t += 100) s.observe(t);
    s.observe(60_000); // a minute-long outage
    // Clipped to 400: EWMA 100 -> 160, so 4 * 160; unclipped, the EWMA would jump past the cap.
    expect(s.staleAge()).toBe(640);
  });

  it('restart() resets the silence clock but keeps the learned rhythm', () => {
    const s = new AdaptiveStaleAge(STALE, 0);
    for (let t = 0; t <= 2_000; t += 100) s.observe(t);
    s.restart(10_000);
    expect(s.staleAge()).toBe(400);
    expect(s.isStale(10_300)).toBe(false);
    s.observe(10_300);
    expect(s.snapshot().samples).toBe(20); // the gap across the restart was not sampled
  });
});

describe('ExchangeFailover', () => {
  const make = (overrides: Partial<ConstructorParameters<typeof ExchangeFailover>[0]> = {}): ExchangeFailover =>
    new ExchangeFailover({ symbol: 'BTC/USDT', exchanges: ['binance', 'okx'], failbackAfterMs: 1_000, staleAge: STALE, startedAt: 0, ...overrides });

  it('starts on the preferred exchange and stays while it is healthy', () => {
    const f = make();
    const out = feed(f, 'binance', 0, 3_000, 100);
    feed(f, 'okx', 0, 3_000, 100, out);
    expect(f.active).toBe('binance');
    expect(switches(out)).toEqual([]);
  });

  it('switches to the next healthy exchange once the active one is silent beyond its stale age', () => {
    const f = make();
    const out: FailoverOutput[] = [];
    feed(f, 'binance', 0, 2_000, 100, out); // last binance message at 1900, stale age 400
    feed(f, 'okx', 0, 2_000, 100, out);
    feed(f, 'okx', 2_000, 2_300, 100, out);
    expect(f.active).toBe('binance'); // 1900 + 400 not yet passed at 2200
    out.push(...f.evaluate(2_301));
    expect(f.active).toBe('okx');
    const [sw] = switches(out);
    expect(sw).toMatchObject({ from: 'binance', to: 'okx', reason: 'stale', staleAgeMs: 400 });
    expect(sw?.silenceMs).toBeGreaterThan(400);
    expect(out).toContainEqual(expect.objectContaining({ type: 'health', exchange: 'binance', health: 'stale', previous: 'healthy' }));
  });

  it('switches at once when the active connection goes down', () => {
    const f = make();
    feed(f, 'binance', 0, 1_000, 100);
    feed(f, 'okx', 0, 1_000, 100);
    const out = f.onConnectionDown('binance', 1_000);
    expect(switches(out)).toEqual([expect.objectContaining({ from: 'binance', to: 'okx', reason: 'disconnected' })]);
  });

  it('does not switch to an exchange that is not healthy, and reports that nothing is', () => {
    const f = make();
    feed(f, 'binance', 0, 1_000, 100);
    const out = f.onConnectionDown('binance', 1_000); // okx never sent anything: unknown
    expect(switches(out)).toEqual([]);
    expect(out).toContainEqual(expect.objectContaining({ type: 'no_healthy_exchange', active: 'binance' }));
    expect(f.evaluate(1_100).filter((o) => o.type === 'no_healthy_exchange')).toEqual([]); // reported once
  });

  it('fails back only after the preferred exchange has been healthy for failbackAfterMs without a break', () => {
    const f = make();
    feed(f, 'binance', 0, 1_000, 100);
    feed(f, 'okx', 0, 1_000, 100);
    f.onConnectionDown('binance', 1_000);
    expect(f.active).toBe('okx');
    feed(f, 'okx', 1_000, 6_000, 100);
    const up = f.onConnectionUp('binance', 2_000);
    expect(switches(up)).toEqual([]);
    // binance healthy from 2000, then a break (down at 2500), healthy again from 3000.
    for (let t = 2_000; t < 2_500; t += 100) expect(switches(f.onMessage('binance', t))).toEqual([]);
    f.onConnectionDown('binance', 2_500);
    f.onConnectionUp('binance', 2_900);
    const out: FailoverOutput[] = [];
    for (let t = 3_000; t < 3_900; t += 100) out.push(...f.onMessage('binance', t));
    expect(switches(out)).toEqual([]); // healthy for 900 ms < 1000 ms
    out.push(...f.onMessage('binance', 4_000));
    expect(switches(out)).toEqual([expect.objectContaining({ from: 'okx', to: 'binance', reason: 'failback', at: 4_000 })]);
    expect(f.active).toBe('binance');
  });

  it('when disabled pins the preferred exchange and never switches; enabling resumes', () => {
    const f = make();
    feed(f, 'binance', 0, 1_000, 100);
    feed(f, 'okx', 0, 1_000, 100);
    f.onConnectionDown('binance', 1_000);
    expect(f.active).toBe('okx');
    const disabled = f.setEnabled(false, 1_100);
    expect(disabled).toContainEqual({ type: 'enabled_changed', symbol: 'BTC/USDT', enabled: false, at: 1_100 });
    expect(switches(disabled)).toEqual([expect.objectContaining({ to: 'binance', reason: 'failover_disabled' })]);
    expect(switches(f.evaluate(5_000))).toEqual([]);
    expect(f.active).toBe('binance');
    const enabled = f.setEnabled(true, 5_100);
    expect(switches(enabled)).toEqual([]); // okx went stale meanwhile: nothing healthy to go to
    feed(f, 'okx', 5_200, 6_000, 100);
    expect(f.active).toBe('okx');
  });

  it('honours the preference order among several healthy fallbacks', () => {
    const f = make({ exchanges: ['binance', 'okx', 'bybit'] });
    for (const e of ['binance', 'okx', 'bybit']) feed(f, e, 0, 1_000, 100);
    f.onConnectionDown('binance', 1_000);
    expect(f.active).toBe('okx');
    f.onConnectionDown('okx', 1_100);
    expect(f.active).toBe('bybit');
    expect(f.snapshot(1_100).exchanges.map((e) => [e.exchange, e.health])).toEqual([['binance', 'down'], ['okx', 'down'], ['bybit', 'healthy']]);
  });

  it('rejects an empty or duplicated exchange list', () => {
    expect(() => make({ exchanges: [] })).toThrow(/at least one exchange/);
    expect(() => make({ exchanges: ['okx', 'okx'] })).toThrow(/twice/);
  });
});
