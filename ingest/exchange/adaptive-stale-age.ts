// How long a feed may stay silent before it counts as stale, learned from its own rhythm:
//   staleAge = clamp(multiplier * max(EWMA(gap), p95(gap over the last `window` gaps)), min, max)
// A fixed timeout restarts healthy connections on illiquid symbols (tardis-dev/tardis-node#48);
// a learned one waits longer for a market that is normally quiet.

export interface AdaptiveStaleAgeConfig {
  /** Never stale sooner than this. */
  minStaleMs: number;
  /** Never wait longer than this, however quiet the market has been. */
  maxStaleMs: number;
  /** How many typical gaps of silence make a feed stale. */
  multiplier: number;
  /** Stale age until `minSamples` gaps are known. */
  initialStaleMs: number;
  minSamples: number;
  /** Gaps kept for the quantile. */
  window: number;
  quantile: number;
  ewmaAlpha: number;
}

export const DEFAULT_STALE_AGE_CONFIG: Readonly<AdaptiveStaleAgeConfig> = Object.freeze({
  minStaleMs: 2_000,
  maxStaleMs: 120_000,
  multiplier: 4,
  initialStaleMs: 30_000,
  minSamples: 5,
  window: 64,
  quantile: 0.95,
  ewmaAlpha: 0.2,
});

export interface StaleAgeSnapshot {
  samples: number;
  ewmaGapMs: number | null;
  quantileGapMs: number | null;
  staleAgeMs: number;
  lastMessageAt: number | null;
}

export class AdaptiveStaleAge {
  readonly config: Readonly<AdaptiveStaleAgeConfig>;
  private readonly gaps: number[] = [];
  private ewma: number | null = null;
  private last: number | null = null;
  /** Silence is measured from here until the first message. */
  private since: number;

  constructor(config: Partial<AdaptiveStaleAgeConfig> = {}, startedAt = 0) {
    const merged = { ...DEFAULT_STALE_AGE_CONFIG, ...config };
    if (!(merged.minStaleMs > 0 && merged.maxStaleMs >= merged.minStaleMs)) {
      throw new RangeError(`stale age needs 0 < minStaleMs <= maxStaleMs, got ${merged.minStaleMs}..${merged.maxStaleMs}`);
    }
    this.config = Object.freeze(merged);
    this.since = startedAt;
  }

  /** A message arrived at `at`. */
  observe(at: number): void {
    if (this.last !== null && at >= this.last) {
      // An outage is not evidence of the normal rhythm: clip it to the stale age it broke, so a
      // market that really got quieter still raises the estimate, slowly.
      const gap = Math.min(at - this.last, this.staleAge());
      this.gaps.push(gap);
      if (this.gaps.length > this.config.window) this.gaps.shift();
      this.ewma = this.ewma === null ? gap : this.ewma + this.config.ewmaAlpha * (gap - this.ewma);
    }
    this.last = this.last === null ? at : Math.max(this.last, at);
  }

  /**
   * Restart the silence clock (after a reconnect or a resubscription) without forgetting the
   * learned rhythm: the gap across the restart is not sampled.
   */
  restart(at: number): void {
    this.last = null;
    this.since = at;
  }

  staleAge(): number {
    const { minStaleMs, maxStaleMs, multiplier, initialStaleMs, minSamples } = this.config;
    if (this.gaps.length < minSamples || this.ewma === null) return Math.min(maxStaleMs, Math.max(minStaleMs, initialStaleMs));
    const typical = Math.max(this.ewma, this.quantileGap());
    return Math.min(maxStaleMs, Math.max(minStaleMs, multiplier * typical));
  }

  lastMessageAt(): number | null {
    return this.last;
  }

  silenceMs(now: number): number {
    return now - (this.last ?? this.since);
  }

  isStale(now: number): boolean {
    return this.silenceMs(now) > this.staleAge();
  }

  snapshot(): StaleAgeSnapshot {
    return {
      samples: this.gaps.length,
      ewmaGapMs: this.ewma,
      quantileGapMs: this.gaps.length === 0 ? null : this.quantileGap(),
      staleAgeMs: this.staleAge(),
      lastMessageAt: this.last,
    };
  }

  private quantileGap(): number {
    const sorted = [...this.gaps].sort((a, b) => a - b);
    const index = Math.min(sorted.length - 1, Math.ceil(this.config.quantile * sorted.length) - 1);
    return sorted[Math.max(0, index)] ?? 0;
  }
}
