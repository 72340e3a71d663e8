// Completeness of a candle series: which candles a range should hold, which it holds, which are
// missing, and whether each recorded connection hole is covered again (closed by a backfill).
// Pure: the ingestor feeds it from memory, the query side can feed it from ClickHouse.

export interface TimeRange {
  /** Inclusive, epoch ms. */
  from: number;
  /** Exclusive, epoch ms. */
  to: number;
}

export interface CompletenessInput {
  intervalMs: number;
  /** Candles whose open_time lies in [from, to) are expected. */
  range: TimeRange;
  /** open_times present in the store (any order, duplicates and out-of-range values ignored). */
  present: Iterable<number>;
  /** Recorded connection holes (connection.down .. connection.up). */
  holes?: readonly TimeRange[];
}

export interface MissingRange {
  /** open_time of the first missing candle. */
  from: number;
  /** open_time of the last missing candle plus one interval (exclusive). */
  to: number;
  candles: number;
}

export interface HoleCoverage extends TimeRange {
  /** Candles that closed while the connection was down. */
  expected: number;
  missing: number;
  /** True when every candle the hole spans is present again. */
  closed: boolean;
}

export interface CompletenessReport {
  intervalMs: number;
  range: TimeRange;
  expected: number;
  present: number;
  /** present / expected, 1 for an empty range. */
  ratio: number;
  missing: MissingRange[];
  holes: HoleCoverage[];
  complete: boolean;
}

const alignUp = (t: number, step: number): number => Math.ceil(t / step) * step;
const alignDown = (t: number, step: number): number => Math.floor(t / step) * step;

/** Open times of the candles a hole affects: those whose interval overlaps [from, to). */
export function candlesSpannedBy(hole: TimeRange, intervalMs: number): TimeRange {
  return { from: alignDown(hole.from, intervalMs), to: alignUp(hole.to, intervalMs) };
}

export function computeCompleteness(input: CompletenessInput): CompletenessReport {
  const { intervalMs, range } = input;
  if (!(intervalMs > 0)) throw new RangeError(`intervalMs must be > 0, got ${intervalMs}`);
  const first = alignUp(range.from, intervalMs);
  const present = new Set<number>();
  for (const t of input.present) {
    if (t >= first && t < range.to && (t - first) % intervalMs === 0) present.add(t);
  }
  const missing: MissingRange[] = [];
  let expected = 0;
  let open: MissingRange | null = null;
  for (let t = first; t < range.to; t += intervalMs) {
    expected++;
    if (present.has(t)) {
      open = null;
      continue;
    }
    if (open === null) {
      open = { from: t, to: t + intervalMs, candles: 1 };
      missing.push(open);
    } else {
      open.to = t + intervalMs;
      open.candles++;
    }
  }
  const holes = (input.holes ?? []).map((hole): HoleCoverage => {
    const spanned = candlesSpannedBy(hole, intervalMs);
    const lo = Math.max(spanned.from, first);
    const hi = Math.min(spanned.to, range.to);
    let holeExpected = 0;
    let holeMissing = 0;
    for (let t = lo; t < hi; t += intervalMs) {
      holeExpected++;
      if (!present.has(t)) holeMissing++;
    }
    return { from: hole.from, to: hole.to, expected: holeExpected, missing: holeMissing, closed: holeMissing === 0 };
  });
  return {
    intervalMs,
    range: { ...range },
    expected,
    present: present.size,
    ratio: expected === 0 ? 1 : present.size / expected,
    missing,
    holes,
    complete: missing.length === 0,
  };
}
