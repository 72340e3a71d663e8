import { describe, it, expect } from 'vitest';
import { backoffDelay, parseRetryAfter } from '../../../ingest/proxy/proxy-backoff.ts';

const policy = { baseMs: 1_000, maxMs: 60_000 };

describe('proxy backoff', () => {
  it('doubles per consecutive failure, with equal jitter between half and all of the step', () => {
    expect(backoffDelay(1, policy, () => 0)).toBe(500);
    expect(backoffDelay(1, policy, () => 1)).toBe(1_000);
    expect(backoffDelay(2, policy, () => 1)).toBe(2_000);
    expect(backoffDelay(4, policy, () => 0.5)).toBe(6_000);
    for (let n = 1; n < 10; n++) {
      const lo = backoffDelay(n, policy, () => 0);
      const hi = backoffDelay(n, policy, () => 1);
      expect(hi).toBe(Math.min(60_000, 1_000 * 2 ** (n - 1)));
      expect(lo).toBe(hi / 2);
    }
  });

  it('never exceeds the cap, even after very many failures', () => {
    expect(backoffDelay(7, policy, () => 1)).toBe(60_000);
    expect(backoffDelay(10_000, policy, () => 1)).toBe(60_000);
    expect(backoffDelay(10_000, policy, () => 0)).toBe(30_000);
  });

  it('waits at least what a 429 Retry-After asks for', () => {
    expect(backoffDelay(1, policy, () => 0, 30_000)).toBe(30_000);
    expect(backoffDelay(5, policy, () => 1, 1_000)).toBe(16_000);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter(null, now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
  });
});
