/**
 * The harness's arithmetic, kept free of I/O so it can be tested on fixed inputs
 * (test/bench-smoke.test.ts): quantiles, medians with their spread, ratios and targets.
 */

/** Quantile by linear interpolation between closest ranks (q in [0, 1]); NaN for no data. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);

/** A figure over several runs: its median and the spread around it. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function summarize(runs: readonly number[]): Summary {
  const finite = runs.filter((v) => Number.isFinite(v));
  return {
    median: median(finite),
    min: finite.length ? Math.min(...finite) : Number.NaN,
    max: finite.length ? Math.max(...finite) : Number.NaN,
    runs: [...runs],
  };
}

/** a / b, or NaN when b is zero or either side was not measured. */
export function ratio(a: number, b: number): number {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return Number.NaN;
  return a / b;
}

/**
 * Ratios of runs measured side by side (run i of A against run i of B, interleaved):
 * on a shared, noisy machine the pairs share their noise, so the median of the paired
 * ratios is steadier than the ratio of two medians.
 */
export function pairedRatios(a: readonly number[], b: readonly number[]): Summary {
  const n = Math.min(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(ratio(a[i]!, b[i]!));
  return summarize(out);
}

export interface Target {
  /** `<=`: lower is better and the ratio must not exceed `value`; `>=`: the opposite. */
  op: '<=' | '>=';
  value: number;
  /** How the target reads, e.g. "≤ 1.5× bare Socket.IO". */
  text: string;
}

/** Whether a measured ratio meets its target; null when the ratio could not be measured. */
export function isMet(measured: number, target: Target): boolean | null {
  if (!Number.isFinite(measured)) return null;
  return target.op === '<=' ? measured <= target.value : measured >= target.value;
}

/** Per-second rate of `count` events over `ms` milliseconds. */
export const perSecond = (count: number, ms: number): number => (ms > 0 ? (count * 1000) / ms : Number.NaN);
