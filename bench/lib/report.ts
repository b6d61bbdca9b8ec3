import { isMet, pairedRatios, ratio, summarize, type Summary, type Target } from './stats.ts';

/**
 * One line of the results: Parley's figure, the reference it is compared with (measured in
 * the same run), their ratio, the target and whether it is met. `met` is null when the
 * figure could not be measured (e.g. no Postgres); that is reported, never counted as met.
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
  met: boolean | null;
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
  return {
    id: input.id,
    scenario: input.scenario,
    metric: input.metric,
    unit: input.unit,
    parley,
    reference,
    ratio: r,
    target: input.target ?? null,
    met: input.target ? isMet(r.median, input.target) : null,
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

const spread = (s: Summary) => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
const verdict = (met: boolean | null, hasTarget: boolean) =>
  !hasTarget ? '' : met === null ? 'n/a' : met ? 'MET' : 'MISSED';

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
    verdict(e.met, e.target !== null),
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
      `| ${e.id} | ${e.metric} (${e.unit}) | ${spread(e.parley)} | ${spread(e.reference)} ${e.reference.name} | ${spread(e.ratio)} | ${e.target?.text ?? '—'} | ${verdict(e.met, e.target !== null) || '—'} |`,
  );
  return [
    '| result | metric | Parley | reference | ratio | target | met |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
