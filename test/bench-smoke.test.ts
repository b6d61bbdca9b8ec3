import { describe, expect, it } from 'vitest';
import { entry, fmt, formatMarkdown, formatTable } from '../bench/lib/report.ts';
import { isMet, median, pairedRatios, perSecond, quantile, ratio, summarize } from '../bench/lib/stats.ts';

// The benchmark is not part of `npm test`; its reporting logic is, so a wrong median or a
// flipped target cannot silently turn a miss into "met".

describe('bench statistics', () => {
  it('interpolates quantiles between closest ranks, whatever the input order', () => {
    expect(quantile([5, 1, 3, 2, 4], 0.5)).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(quantile([10, 20], 0.99)).toBeCloseTo(19.9);
    expect(quantile([7], 0.99)).toBe(7);
    expect(quantile([], 0.5)).toBeNaN();
    expect(
      quantile(
        Array.from({ length: 101 }, (_, i) => i),
        0.99,
      ),
    ).toBe(99);
  });

  it('summarizes runs as median with min and max, ignoring unmeasured runs', () => {
    expect(summarize([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, runs: [3, 1, 2] });
    const s = summarize([Number.NaN, 4, 6]);
    expect([s.median, s.min, s.max]).toEqual([5, 4, 6]);
    expect(summarize([]).median).toBeNaN();
  });

  it('pairs runs for ratios and refuses to divide by zero', () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(Number.NaN, 1)).toBeNaN();
    // Paired ratios 2, 1, 3: median 2. The ratio of medians would be 20/10 = 2 too, but
    // here the pairing is what keeps the spread honest (1–3).
    const r = pairedRatios([20, 10, 30], [10, 10, 10]);
    expect([r.median, r.min, r.max]).toEqual([2, 1, 3]);
    expect(perSecond(500, 2000)).toBe(250);
  });

  it('decides met in the target’s direction, and null when nothing was measured', () => {
    expect(isMet(1.5, { op: '<=', value: 1.5, text: '' })).toBe(true);
    expect(isMet(1.51, { op: '<=', value: 1.5, text: '' })).toBe(false);
    expect(isMet(0.49, { op: '>=', value: 0.5, text: '' })).toBe(false);
    expect(isMet(0.5, { op: '>=', value: 0.5, text: '' })).toBe(true);
    expect(isMet(Number.NaN, { op: '>=', value: 0.5, text: '' })).toBeNull();
  });
});

describe('bench report', () => {
  const target = { op: '<=' as const, value: 1.5, text: '≤ 1.5× bare Socket.IO' };

  it('builds an entry with both sides, the paired ratio and the verdict', () => {
    const e = entry({
      id: 'broadcast-100-cpu',
      scenario: 'broadcast',
      metric: 'CPU per delivered message',
      unit: 'µs',
      parleyRuns: [12, 18, 15],
      referenceName: 'bare Socket.IO',
      referenceRuns: [10, 10, 10],
      target,
    });
    expect(e.parley.median).toBe(15);
    expect(e.reference).toMatchObject({ name: 'bare Socket.IO', median: 10 });
    expect(e.ratio.median).toBe(1.5);
    expect([e.ratio.min, e.ratio.max]).toEqual([1.2, 1.8]);
    expect(e.met).toBe(true);
  });

  it('reports a miss as missed and an unmeasured side as not met', () => {
    const miss = entry({
      id: 'x',
      scenario: 's',
      metric: 'm',
      unit: 'u',
      parleyRuns: [31],
      referenceRuns: [10],
      referenceName: 'r',
      target,
    });
    expect(miss.met).toBe(false);
    const none = entry({
      id: 'y',
      scenario: 's',
      metric: 'm',
      unit: 'u',
      parleyRuns: [Number.NaN, Number.NaN],
      referenceRuns: [10, 11],
      referenceName: 'r',
      target,
    });
    expect(none.verdict).toBe('unmeasured');
    const table = formatTable([miss, none]);
    expect(table).toMatch(/^x .*MISSED$/m);
    expect(table).toMatch(/^y .*n\/a$/m);
    expect(formatMarkdown([miss])).toContain(
      '| x | m (u) | 31.0 (31.0–31.0) | 10.0 (10.0–10.0) r | 3.10 (3.10–3.10) | ≤ 1.5× bare Socket.IO | MISSED |',
    );
  });

  it('formats figures with sensible precision', () => {
    expect(fmt(12345.6)).toBe('12,346');
    expect(fmt(123.4)).toBe('123');
    expect(fmt(12.34)).toBe('12.3');
    expect(fmt(1.234)).toBe('1.23');
    expect(fmt(0.01234)).toBe('0.012');
    expect(fmt(Number.NaN)).toBe('n/a');
  });
});
