// Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter"):
// delay = random() * min(cap, base * multiplier^(attempt - 1)). Full jitter spreads reconnect storms
// of many ingestors better than equal or decorrelated jitter at the same mean.

export interface RetryConfig {
  /** Ceiling of the first retry's delay. */
  baseMs: number;
  /** No delay ever exceeds this. */
  capMs: number;
  /** Consecutive failed attempts before giving up; 0 = never give up. */
  maxAttempts: number;
  /** Growth of the ceiling per attempt. */
  multiplier: number;
}

export const DEFAULT_RETRY_CONFIG: Readonly<RetryConfig> = Object.freeze({
  baseMs: 500,
  capMs: 30_000,
  maxAttempts: 0,
  multiplier: 2,
});

export class RetryConfigError extends Error {
  override name = 'RetryConfigError';
}

/** Validates a partial config (e.g. the params of a retry.set command) field by field. */
export function parseRetryConfig(input: unknown): Partial<RetryConfig> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new RetryConfigError('retry config must be an object with baseMs, capMs, maxAttempts or multiplier');
  }
  const record = input as Record<string, unknown>;
  const out: Partial<RetryConfig> = {};
  const field = (name: keyof RetryConfig, min: number, integer: boolean): void => {
    const value = record[name];
    if (value === undefined) return;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
      throw new RetryConfigError(`${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${JSON.stringify(value)}`);
    }
    out[name] = value;
  };
  field('baseMs', 1, false);
  field('capMs', 1, false);
  field('maxAttempts', 0, true);
  field('multiplier', 1, false);
  return out;
}

function checkConsistent(config: RetryConfig): RetryConfig {
  const checked = { ...config, ...parseRetryConfig(config) };
  if (checked.capMs < checked.baseMs) throw new RetryConfigError(`capMs (${checked.capMs}) must be >= baseMs (${checked.baseMs})`);
  return checked;
}

export class RetryPolicy {
  private current: RetryConfig;

  constructor(config: Partial<RetryConfig> = {}, private readonly random: () => number = Math.random) {
    this.current = checkConsistent({ ...DEFAULT_RETRY_CONFIG, ...config });
  }

  get config(): Readonly<RetryConfig> {
    return { ...this.current };
  }

  /** Changes the policy at run time; the next delay uses it. Throws RetryConfigError if invalid. */
  update(partial: Partial<RetryConfig>): Readonly<RetryConfig> {
    this.current = checkConsistent({ ...this.current, ...partial });
    return this.config;
  }

  /** The jitter-free upper bound for an attempt (1-based). */
  ceilingFor(attempt: number): number {
    const { baseMs, capMs, multiplier } = this.current;
    return Math.min(capMs, baseMs * multiplier ** Math.max(0, attempt - 1));
  }

  exhausted(attempt: number): boolean {
    return this.current.maxAttempts > 0 && attempt > this.current.maxAttempts;
  }

  /** Delay before retry number `attempt` (1-based), or null once maxAttempts is used up. */
  delayFor(attempt: number): number | null {
    if (this.exhausted(attempt)) return null;
    return Math.floor(this.random() * this.ceilingFor(attempt));
  }
}
