// Backoff for a failing proxy source: exponential in the number of consecutive failures, capped,
// with "equal jitter" (half fixed, half random) so sources that failed together (one outage) do
// not retry in lockstep, yet a retry never comes almost immediately. Pure, so tests need no clock.
export interface BackoffPolicy { baseMs: number; maxMs: number }

export function backoffDelay(consecutiveFailures: number, policy: BackoffPolicy, random: () => number = Math.random, retryAfterMs: number | null = null): number {
  const n = Math.max(1, consecutiveFailures);
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(n - 1, 40));
  const jittered = Math.round(ceiling / 2 + random() * (ceiling / 2));
  // A 429's Retry-After is the API telling us when it will answer again; never come back sooner.
  return retryAfterMs !== null && retryAfterMs > jittered ? retryAfterMs : jittered;
}

/** Retry-After as delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(header: string | null, now: number): number | null {
  if (header === null || header.trim() === '') return null;
  const v = header.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}
