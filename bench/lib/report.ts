import { pairedRatios, ratio, summarize, type Summary, type Target } from './stats.ts';
import { combineVerdicts, score, VERDICT_LABEL, type Validity, type Verdict } from './verdict.ts';

/**
 * One line of the results: Parley's figure, the reference it is compared with (measured in
 * the same run), their ratio, the target and its verdict (bench/lib/verdict.ts): only
 * `met` counts as met; an impossible figure is `invalid`, an unmeasured one `unmeasured`.
 */
export interface ResultEntry {
  id: string;
  scenario: string;
  metric: string;
  unit: string;
  parley: Summary;
  /** The reference: bare Socket.IO, raw pg, or Parley itself at another size. */
  reference: Summary & { name: string };
  ratio: Summary;
  target: Target | null;
  /** null when there is no target. */
  verdict: Verdict | null;
  /** True only for `met`; null without a target. Kept for readers of latest.json. */
  met: boolean | null;
  /** Why the figure cannot be scored (impossible runs, too few samples); empty when fine. */
  problems: string[];
  notes?: string;
  extra?: Record<string, unknown>;
}

export interface EntryInput {
  id: string;
  scenario: string;
  metric: string;
  unit: string;
  parleyRuns: number[];
  referenceName: string;
  referenceRuns: number[];
  /** Ratios of paired runs (default); `medians` when the runs are not paired one to one. */
  ratioOf?: 'pairs' | 'medians';
  /** A reference figure computed from several (e.g. baseline p99 + insert p99), given per run. */
  target?: Target;
  /** How this figure can be impossible (default: every run must be a positive number). */
  validity?: Validity;
  notes?: string;
  extra?: Record<string, unknown>;
}

export function entry(input: EntryInput): ResultEntry {
  const parley = summarize(input.parleyRuns);
  const reference = { name: input.referenceName, ...summarize(input.referenceRuns) };
  const paired = input.ratioOf !== 'medians' && input.parleyRuns.length === input.referenceRuns.length;
  const r = paired
    ? pairedRatios(input.parleyRuns, input.referenceRuns)
    : summarize([ratio(parley.median, reference.median)]);
  const target = input.target ?? null;
  const { verdict, problems } = score(
    input.parleyRuns,
    input.referenceRuns,
    r.median,
    target,
    input.validity,
  );
  return {
    id: input.id,
    scenario: input.scenario,
    metric: input.metric,
    unit: input.unit,
    parley,
    reference,
    ratio: r,
    target,
    verdict,
    met: verdict === null ? null : verdict === 'met',
    problems,
    ...(input.notes ? { notes: input.notes } : {}),
    ...(input.extra ? { extra: input.extra } : {}),
  };
}

/** A figure with a sensible number of digits for a table. */
export function fmt(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

/**
 * The same result measured in several whole runs (`--runs N`), as one line: each side's
 * figures are every run's medians, the ratio spans every run's ratio median, and the
 * verdict is met only when every run met it (combineVerdicts).
 */
export function combineRuns(runs: readonly (readonly ResultEntry[])[]): ResultEntry[] {
  if (runs.length === 1) return [...runs[0]!];
  const ids = [...new Set(runs.flatMap((r) => r.map((e) => e.id)))];
  return ids.map((id) => {
    const each = runs.map((r) => r.find((e) => e.id === id));
    const present = each.filter((e): e is ResultEntry => e !== undefined);
    const first = present[0]!;
    const verdicts = each.map((e) => (e ? e.verdict : first.target ? 'unmeasured' : null));
    const verdict = combineVerdicts(verdicts);
    return {
      ...first,
      parley: summarize(present.map((e) => e.parley.median)),
      reference: { name: first.reference.name, ...summarize(present.map((e) => e.reference.median)) },
      ratio: summarize(present.map((e) => e.ratio.median)),
      verdict,
      met: verdict === null ? null : verdict === 'met',
      problems: present.flatMap((e, i) => e.problems.map((p) => `run ${i + 1}: ${p}`)),
      extra: { ...first.extra, runs: each.map((e) => e ?? null) },
    };
  });
}

const spread = (s: Summary) => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
const verdictText = (e: ResultEntry) => (e.verdict === null ? '' : VERDICT_LABEL[e.verdict]);

/** The results as a plain-text table: median (min–max) of each side, the ratio and the verdict. */
export function formatTable(entries: readonly ResultEntry[]): string {
  const header = ['result', 'metric', 'Parley', 'reference', 'ratio', 'target', 'met'];
  const rows = entries.map((e) => [
    e.id,
    `${e.metric} [${e.unit}]`,
    spread(e.parley),
    `${spread(e.reference)} ${e.reference.name}`,
    spread(e.ratio),
    e.target?.text ?? '',
    verdictText(e),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** A Markdown table of the same results, for docs/performance.md. */
export function formatMarkdown(entries: readonly ResultEntry[]): string {
  const rows = entries.map(
    (e) =>
      `| ${e.id} | ${e.metric} (${e.unit}) | ${spread(e.parley)} | ${spread(e.reference)} ${e.reference.name} | ${spread(e.ratio)} | ${e.target?.text ?? '—'} | ${verdictText(e) || '—'} |`,
  );
  return [
    '| result | metric | Parley | reference | ratio | target | met |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
