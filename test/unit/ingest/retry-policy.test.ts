import { describe, expect, it } from 'vitest';
import { parseRetryConfig, RetryConfigError, RetryPolicy } from '../../../ingest/exchange/retry-policy.ts';
import { mulberry32 as seededRandom } from '../../../runtime/seeded-random.ts';

describe('RetryPolicy', () => {
  it('ceilings grow exponentially from base and stop at the cap', () => {
    const policy = new RetryPolicy({ baseMs: 100, capMs: 1_000, multiplier: 2 });
    expect([1, 2, 3, 4, 5, 6].map((a) => policy.ceilingFor(a))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('full jitter: delay = floor(random * ceiling), reproducible with a seeded random', () => {
    const draws = seededRandom(42);
    const expected = [1, 2, 3, 4, 5].map((a) => Math.floor(draws() * Math.min(1_000, 100 * 2 ** (a - 1))));
    const policy = new RetryPolicy({ baseMs: 100, capMs: 1_000 }, seededRandom(42));
    const delays = [1, 2, 3, 4, 5].map((a) => policy.delayFor(a));
    expect(delays).toEqual(expected);
    for (const [i, d] of delays.entries()) {
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(policy.ceilingFor(i + 1));
    }
    // Same seed, same sequence; another seed, another one.
    const again = new RetryPolicy({ baseMs: 100, capMs: 1_000 }, seededRandom(42));
    expect([1, 2, 3, 4, 5].map((a) => again.delayFor(a))).toEqual(delays);
    const other = new RetryPolicy({ baseMs: 100, capMs: 1_000 }, seededRandom(43));
    expect([1, 2, 3, 4, 5].map((a) => other.delayFor(a))).not.toEqual(delays);
  });

  it('the extremes of random give 0 and just under the ceiling', () => {
    expect(new RetryPolicy({ baseMs: 100, capMs: 500 }, () => 0).delayFor(3)).toBe(0);
    expect(new RetryPolicy({ baseMs: 100, capMs: 500 }, () => 0.999999).delayFor(3)).toBe(399);
    expect(new RetryPolicy({ baseMs: 100, capMs: 500 }, () => 0.999999).delayFor(30)).toBe(499);
  });

  it('gives up after maxAttempts; 0 means never', () => {
    const limited = new RetryPolicy({ maxAttempts: 3 }, () => 0.5);
    expect([1, 2, 3].map((a) => limited.delayFor(a) !== null)).toEqual([true, true, true]);
    expect(limited.delayFor(4)).toBeNull();
    expect(new RetryPolicy({ maxAttempts: 0 }, () => 0.5).delayFor(10_000)).not.toBeNull();
  });

  it('changes at run time and the next delay uses the new config', () => {
    const policy = new RetryPolicy({ baseMs: 100, capMs: 200 }, () => 0.5);
    expect(policy.delayFor(5)).toBe(100);
    policy.update({ baseMs: 1_000, capMs: 10_000 });
    expect(policy.config).toMatchObject({ baseMs: 1_000, capMs: 10_000, multiplier: 2 });
    expect(policy.delayFor(5)).toBe(5_000);
    policy.update({ maxAttempts: 2 });
    expect(policy.delayFor(3)).toBeNull();
  });

  it('rejects invalid configs with a message that names the field', () => {
    expect(() => new RetryPolicy({ baseMs: 500, capMs: 100 })).toThrow(/capMs \(100\) must be >= baseMs \(500\)/);
    const policy = new RetryPolicy();
    expect(() => policy.update({ multiplier: 0.5 })).toThrow(RetryConfigError);
    expect(policy.config.multiplier).toBe(2);
    expect(() => parseRetryConfig({ maxAttempts: 1.5 })).toThrow(/maxAttempts must be an integer/);
    expect(() => parseRetryConfig({ baseMs: 'fast' })).toThrow(/baseMs must be a number/);
    expect(() => parseRetryConfig([1])).toThrow(RetryConfigError);
    expect(parseRetryConfig({ baseMs: 250, unrelated: true })).toEqual({ baseMs: 250 });
  });
});
