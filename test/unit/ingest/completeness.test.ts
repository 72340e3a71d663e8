import { describe, expect, it } from 'vitest';
import { candlesSpannedBy, computeCompleteness } from '../../../ingest/exchange/completeness.ts';

const M = 60_000;
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % M);
const times = (...minutes: number[]): number[] => minutes.map((m) => T0 + m * M);

describe('computeCompleteness', () => {
  it('counts expected and present candles over an aligned range', () => {
    const report = computeCompleteness({ intervalMs: M, range: { from: T0, to: T0 + 10 * M }, present: times(0, 1, 2, 3, 4, 5, 6, 7, 8, 9) });
    expect(report).toMatchObject({ expected: 10, present: 10, ratio: 1, missing: [], complete: true });
  });

  it('groups consecutive missing candles into ranges', () => {
    const report = computeCompleteness({ intervalMs: M, range: { from: T0, to: T0 + 10 * M }, present: times(0, 1, 4, 5, 6, 9) });
    expect(report.expected).toBe(10);
    expect(report.present).toBe(6);
    expect(report.ratio).toBeCloseTo(0.6);
    expect(report.missing).toEqual([
      { from: T0 + 2 * M, to: T0 + 4 * M, candles: 2 },
      { from: T0 + 7 * M, to: T0 + 9 * M, candles: 2 },
    ]);
    expect(report.complete).toBe(false);
  });

  it('ignores duplicates, misaligned and out-of-range open times; aligns the range start up', () => {
    const report = computeCompleteness({
      intervalMs: M,
      range: { from: T0 + 30_000, to: T0 + 3 * M },
      present: [...times(0, 1, 1, 2, 3, 7), T0 + M + 1],
    });
    expect(report.expected).toBe(2); // T0+1m and T0+2m
    expect(report.present).toBe(2);
    expect(report.complete).toBe(true);
  });

  it('says for each recorded hole whether its candles are back', () => {
    // Disconnected at 2m30s, back at 5m10s: the candles opening at 2m, 3m, 4m, 5m are affected.
    const hole = { from: T0 + 2 * M + 30_000, to: T0 + 5 * M + 10_000 };
    expect(candlesSpannedBy(hole, M)).toEqual({ from: T0 + 2 * M, to: T0 + 6 * M });
    const open = computeCompleteness({ intervalMs: M, range: { from: T0, to: T0 + 8 * M }, present: times(0, 1, 6, 7), holes: [hole] });
    expect(open.holes).toEqual([{ ...hole, expected: 4, missing: 4, closed: false }]);
    const backfilled = computeCompleteness({ intervalMs: M, range: { from: T0, to: T0 + 8 * M }, present: times(0, 1, 2, 3, 4, 5, 6, 7), holes: [hole] });
    expect(backfilled.holes).toEqual([{ ...hole, expected: 4, missing: 0, closed: true }]);
    expect(backfilled.complete).toBe(true);
  });

  it('an empty range is complete and a non-positive interval is an error', () => {
    expect(computeCompleteness({ intervalMs: M, range: { from: T0, to: T0 }, present: [] })).toMatchObject({ expected: 0, ratio: 1, complete: true });
    expect(() => computeCompleteness({ intervalMs: 0, range: { from: T0, to: T0 + M }, present: [] })).toThrow(RangeError);
  });
});
