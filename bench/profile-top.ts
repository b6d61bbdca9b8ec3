import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { ROOT_DIR } from './lib/children.ts';

/**
 * `npm run bench:profile -- <file.cpuprofile> [more…]`: where a profile's time goes, as the
 * top frames by self time and the same time grouped by package (or by our own folder), so
 * docs/performance.md can say it in a table without opening DevTools.
 */

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function place(url: string): string {
  if (!url) return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (path.startsWith('node:')) return 'node';
  const rel = relative(ROOT_DIR, path);
  return rel.startsWith('..') ? path : rel;
}

for (const file of process.argv.slice(2)) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  // The stats agent's own work (stopping the profiler serializes it: `post` in
  // node:inspector) is the measurement, not the server: its subtree is left out.
  const agent = new Set<number>();
  const mark = (id: number, inside: boolean) => {
    const n = byId.get(id)!;
    const here = inside || n.callFrame.url.endsWith('bench/lib/agent.ts');
    if (here) agent.add(id);
    for (const c of n.children ?? []) mark(c, here);
  };
  mark(p.nodes[0]!.id, false);
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => {
    if (!agent.has(id)) self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)');
  const idleUs = idle.reduce((a, [, us]) => a + us, 0);
  const busy = total - idleUs;
  const frames = new Map<string, number>();
  const groups = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') continue;
    const where = place(f.url);
    const key = `${f.functionName || '(anonymous)'} ${where}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    frames.set(key, (frames.get(key) ?? 0) + us);
    groups.set(where, (groups.get(where) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1)}%`;
  console.log(`\n${file}: ${(total / 1e3).toFixed(0)} ms sampled, busy ${(busy / 1e3).toFixed(0)} ms`);
  console.log('top frames (self time, share of busy):');
  for (const [k, us] of [...frames].sort((a, b) => b[1] - a[1]).slice(0, 15))
    console.log(`  ${pct(us).padStart(6)}  ${k}`);
  console.log('by package / folder:');
  for (const [k, us] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, 12))
    console.log(`  ${pct(us).padStart(6)}  ${k}`);
}
