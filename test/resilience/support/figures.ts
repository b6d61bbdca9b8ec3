import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './server-process.ts';

/** Where each scenario leaves its figures (gitignored), for docs/reliability.md. */
const RESULTS_DIR = process.env.RESILIENCE_RESULTS_DIR || join(ROOT, '.data', 'resilience');

export function report(scenario: string, figures: Record<string, unknown>): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const entry = { scenario, at: new Date().toISOString(), ...figures };
  writeFileSync(join(RESULTS_DIR, `${scenario}.json`), `${JSON.stringify(entry, null, 2)}\n`);
  console.log(`[figures] ${scenario} ${JSON.stringify(figures)}`);
}
