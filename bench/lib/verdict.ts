import { isMet, type Target } from './stats.ts';

/**
 * What a result line says about its target. Only `met` counts as met: a figure that cannot
 * be true (a negative memory or CPU cost, a reference of 0, a ratio from a window that
 * delivered nothing or too few samples) is `invalid`, a side that was not measured at all is
 * `unmeasured`, and a target met in some runs of `--runs N` and missed in others is
 * `unstable`. Kept free of I/O so it is tested on fixed inputs (test/bench-verdict.test.ts).
 */
export type Verdict = 'met' | 'missed' | 'unstable' | 'invalid' | 'unmeasured';

/** How a figure can be impossible, and how many samples each of its runs rests on. */
export interface Validity {
  /**
   * Costs, times, rates and sizes are positive: a run at or below zero is impossible (a
   * negative RSS delta, a CPU counter read backwards, an empty window's rate). Default true.
   */
  positive?: boolean;
  /** Samples behind each Parley run (e.g. latencies in the window), for `minSamples`. */
  parleySamples?: readonly number[];
  /** Samples behind each reference run. */
  referenceSamples?: readonly number[];
  /** Fewest samples a run's figure may rest on (a p99 of 20 samples is not a p99). */
  minSamples?: number;
  /**
   * The lowest ratio a run can truly have, where Parley does everything the reference does
   * and more (its heap per socket holds a Socket.IO socket like the baseline's): a run whose
   * own ratio is below it read something else (an unsettled heap), so it is impossible.
   */
  minRatio?: number;
}

/** Why the runs of one side cannot be scored; empty when they can. */
function problemsOf(
  side: string,
  runs: readonly number[],
  positive: boolean,
  samples: readonly number[] | undefined,
  minSamples: number,
): string[] {
  const out: string[] = [];
  runs.forEach((v, i) => {
    const at = `${side} run ${i + 1}`;
    if (Number.isNaN(v)) out.push(`${at} not measured (NaN)`);
    else if (!Number.isFinite(v)) out.push(`${at} is ${v} (a window that delivered nothing?)`);
    else if (positive && v <= 0) out.push(`${at} is ${v}, impossible for this figure`);
    const n = samples?.[i];
    if (n !== undefined && n < minSamples) out.push(`${at} rests on ${n} samples (needs ${minSamples})`);
  });
  if (samples && samples.length < runs.length) out.push(`${side}: sample counts missing for some runs`);
  return out;
}

export interface Scored {
  verdict: Verdict | null;
  /** Why the verdict is `invalid` or `unmeasured`. */
  problems: string[];
}

/**
 * The verdict of one result from its runs and its ratio's median. No target: no verdict
 * (null), though impossible figures are still listed. Every run of both sides unmeasured:
 * `unmeasured` (e.g. Parley's realtime tier was not up). Any impossible run, or a mismatched
 * number of runs where ratios are paired: `invalid`. Otherwise the ratio decides.
 */
export function score(
  parleyRuns: readonly number[],
  referenceRuns: readonly number[],
  ratioMedian: number,
  target: Target | null,
  validity: Validity = {},
): Scored {
  const positive = validity.positive ?? true;
  const minSamples = validity.minSamples ?? 1;
  const all = [...parleyRuns, ...referenceRuns];
  if (all.length === 0 || all.every((v) => Number.isNaN(v)) || parleyRuns.every((v) => Number.isNaN(v)))
    return { verdict: target ? 'unmeasured' : null, problems: ['not measured'] };
  const problems = [
    ...problemsOf('Parley', parleyRuns, positive, validity.parleySamples, minSamples),
    ...problemsOf('reference', referenceRuns, positive, validity.referenceSamples, minSamples),
  ];
  if (parleyRuns.length === 0 || referenceRuns.length === 0) problems.push('a side has no runs');
  if (validity.minRatio !== undefined && parleyRuns.length === referenceRuns.length)
    parleyRuns.forEach((v, i) => {
      const ratio = v / referenceRuns[i]!;
      if (Number.isFinite(ratio) && ratio > 0 && ratio < validity.minRatio!)
        problems.push(
          `run ${i + 1} ratio ${ratio.toFixed(2)} is below ${validity.minRatio}, impossible: Parley does all the reference does`,
        );
    });
  if (!Number.isFinite(ratioMedian) || ratioMedian <= 0) problems.push(`ratio is ${ratioMedian}`);
  if (!target) return { verdict: null, problems };
  if (problems.length > 0) return { verdict: 'invalid', problems };
  return { verdict: isMet(ratioMedian, target) ? 'met' : 'missed', problems };
}

/**
 * One verdict for a target measured in several whole runs (`--runs N`): met only when met
 * in every run; met in some and missed in others is `unstable` (not met); any invalid run
 * makes it invalid, any unmeasured run unmeasured.
 */
export function combineVerdicts(verdicts: readonly (Verdict | null)[]): Verdict | null {
  if (verdicts.length === 0 || verdicts.every((v) => v === null)) return null;
  if (verdicts.includes('invalid')) return 'invalid';
  if (verdicts.includes('unmeasured') || verdicts.includes(null)) return 'unmeasured';
  if (verdicts.includes('unstable')) return 'unstable';
  const met = verdicts.filter((v) => v === 'met').length;
  if (met === verdicts.length) return 'met';
  return met === 0 ? 'missed' : 'unstable';
}

export const VERDICT_LABEL: Record<Verdict, string> = {
  met: 'MET',
  missed: 'MISSED',
  unstable: 'UNSTABLE',
  invalid: 'INVALID',
  unmeasured: 'n/a',
};
