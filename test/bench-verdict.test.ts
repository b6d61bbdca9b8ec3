import { describe, expect, it } from 'vitest';
import { combineRuns, entry, formatTable, type EntryInput } from '../bench/lib/report.ts';
import { combineVerdicts, score } from '../bench/lib/verdict.ts';

// The bench cannot lie: an impossible figure is `invalid`, never `met`, and a target that
// flips between whole runs is not met. Real computation on fixed inputs.

const atMost = (value: number) => ({ op: '<=' as const, value, text: `≤ ${value}×` });
const atLeast = (value: number) => ({ op: '>=' as const, value, text: `≥ ${value}×` });

const input = (over: Partial<EntryInput>): EntryInput => ({
  id: 'memory-1000-rss',
  scenario: 'memory',
  metric: 'RSS per socket',
  unit: 'bytes',
  parleyRuns: [20_000, 21_000],
  referenceName: 'bare Socket.IO',
  referenceRuns: [24_000, 25_000],
  target: atMost(1.5),
  ...over,
});

describe('bench verdicts', () => {
  it('scores the issue’s impossible RSS reading (a negative range) invalid, not met', () => {
    // The reading of 2026-12-01: Parley 2,169 bytes with one rep at −18,338 against ~25 KB.
    const e = entry(input({ parleyRuns: [22_676, -18_338], referenceRuns: [24_000, 25_000] }));
    expect(e.ratio.median).toBeLessThan(1.5); // the ratio alone would have said "met"
    expect(e.verdict).toBe('invalid');
    expect(e.met).toBe(false);
    expect(e.problems.join()).toMatch(/Parley run 2 is -18338, impossible/);
    expect(formatTable([e])).toMatch(/INVALID$/m);
  });

  it('scores a reference of 0, a NaN run and an empty window invalid', () => {
    expect(entry(input({ referenceRuns: [0, 25_000] })).verdict).toBe('invalid');
    expect(entry(input({ parleyRuns: [20_000, Number.NaN] })).verdict).toBe('invalid');
    // CPU per delivered message of a window that delivered nothing: cpu / 0.
    const cpu = entry(input({ parleyRuns: [50, 4_000 / 0], referenceRuns: [20, 21] }));
    expect(cpu.verdict).toBe('invalid');
    expect(cpu.problems.join()).toMatch(/Infinity/);
  });

  it('scores a figure resting on too few samples invalid', () => {
    const e = entry(
      input({
        parleyRuns: [40, 42],
        referenceRuns: [30, 30],
        target: atMost(2),
        validity: { parleySamples: [1_600, 12], referenceSamples: [1_600, 1_600], minSamples: 1_000 },
      }),
    );
    expect(e.ratio.median).toBeLessThan(2);
    expect(e.verdict).toBe('invalid');
    expect(e.problems).toEqual(['Parley run 2 rests on 12 samples (needs 1000)']);
    const enough = entry(
      input({
        parleyRuns: [40, 42],
        referenceRuns: [30, 30],
        target: atMost(2),
        validity: { parleySamples: [1_600, 1_200], minSamples: 1_000 },
      }),
    );
    expect(enough.verdict).toBe('met');
  });

  it('scores a heap per socket below the baseline’s invalid, since Parley holds what bare holds and more', () => {
    // memory-1000-heap of 2026-12-01: 5,516 against bare's 11,144 bytes, read as "met".
    const heap = (parleyRuns: number[]) =>
      entry(
        input({
          id: 'memory-1000-heap',
          parleyRuns,
          referenceRuns: [11_144, 11_200],
          target: atMost(1.2),
          validity: { minRatio: 0.9 },
        }),
      );
    const low = heap([5_516, 12_000]);
    expect(low.verdict).toBe('invalid');
    expect(low.problems.join()).toMatch(/run 1 ratio 0\.49 is below 0\.9, impossible/);
    expect(heap([11_000, 12_500]).verdict).toBe('met'); // within the collector's noise
    expect(heap([15_000, 15_500]).verdict).toBe('missed');
  });

  it('says unmeasured when Parley was not measured at all, and gives no verdict without a target', () => {
    const none = entry(input({ parleyRuns: [Number.NaN, Number.NaN] }));
    expect(none.verdict).toBe('unmeasured');
    expect(none.met).toBe(false);
    const noTarget = entry(input({ target: undefined, parleyRuns: [-1, 2] }));
    expect(noTarget.verdict).toBeNull();
    expect(noTarget.met).toBeNull();
    expect(noTarget.problems.length).toBe(1); // still listed
  });

  it('decides met and missed in the target’s direction when every run is possible', () => {
    expect(score([3, 3], [1, 1], 3, atLeast(3)).verdict).toBe('met');
    expect(score([2.9], [1], 2.9, atLeast(3)).verdict).toBe('missed');
    expect(score([12], [10], 1.2, atMost(1.2)).verdict).toBe('met');
    expect(score([13], [10], 1.3, atMost(1.2)).verdict).toBe('missed');
    // A figure allowed to be negative still cannot be scored through a ratio at or below 0.
    expect(score([-1], [2], -0.5, atMost(1), { positive: false }).verdict).toBe('invalid');
    expect(score([1], [2], 0.5, atMost(1), { positive: false }).verdict).toBe('met');
  });
});

describe('bench runs combined (--runs N)', () => {
  it('is met only when met in every run; a flip is unstable, not met', () => {
    expect(combineVerdicts(['met', 'met', 'met'])).toBe('met');
    expect(combineVerdicts(['met', 'missed', 'met'])).toBe('unstable');
    expect(combineVerdicts(['missed', 'missed'])).toBe('missed');
    expect(combineVerdicts(['met', 'invalid', 'met'])).toBe('invalid');
    expect(combineVerdicts(['met', 'unmeasured'])).toBe('unmeasured');
    expect(combineVerdicts([null, null])).toBeNull();
  });

  it('combines entries by id across runs, with every run kept in extra', () => {
    const run = (parley: number) => [
      entry(input({ id: 'a', parleyRuns: [parley, parley], referenceRuns: [10, 10] })),
      entry(input({ id: 'b', parleyRuns: [5, 5], referenceRuns: [10, 10], target: undefined })),
    ];
    const combined = combineRuns([run(14), run(16), run(12)]);
    const a = combined.find((e) => e.id === 'a')!;
    expect(a.ratio.runs).toEqual([1.4, 1.6, 1.2]);
    expect([a.ratio.median, a.ratio.min, a.ratio.max]).toEqual([1.4, 1.2, 1.6]);
    expect(a.verdict).toBe('unstable'); // 1.6 > 1.5 in run 2
    expect(a.met).toBe(false);
    expect((a.extra?.runs as unknown[]).length).toBe(3);
    expect(combined.find((e) => e.id === 'b')!.verdict).toBeNull();
    // A result missing from one run (its scenario failed) is not met.
    const partial = combineRuns([run(12), [run(12)[1]!]]);
    expect(partial.find((e) => e.id === 'a')!.verdict).toBe('unmeasured');
  });
});
