import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assert, root } from './steps.ts';

/** The runtime (last) stage of a Dockerfile: what the image holds and how it starts. */
export interface RuntimeStage {
  env: Record<string, string>;
  /** ADD <url> <path>: files fetched into the image (e.g. the RDS CA). */
  added: { source: string; path: string }[];
  /** COPY --from=<stage> <from> <to>. */
  copies: { stage: string; from: string; to: string }[];
  workdir: string;
  user: string | undefined;
  cmd: string[];
}

export function runtimeStage(dockerfile = join(root, 'realtime/Dockerfile')): RuntimeStage {
  // Continuation lines joined, comments dropped.
  const lines = readFileSync(dockerfile, 'utf8')
    .replace(/\\\r?\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const lastFrom = lines.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true);
  assert(lastFrom >= 0, `${dockerfile}: no FROM`);
  const stage: RuntimeStage = { env: {}, added: [], copies: [], workdir: '/', user: undefined, cmd: [] };
  for (const line of lines.slice(lastFrom + 1)) {
    const [instruction, ...rest] = line.split(/\s+/);
    const args = rest.filter((a) => !a.startsWith('--'));
    switch (instruction!.toUpperCase()) {
      case 'ENV':
        for (const m of line.slice(3).matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g))
          stage.env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
        break;
      case 'ADD':
        stage.added.push({ source: args[0]!, path: args[1]! });
        break;
      case 'COPY': {
        const from = rest.find((a) => a.startsWith('--from='));
        assert(
          from,
          `${dockerfile}: the runtime stage copies from the build context (${line}); only --from copies are reproduced`,
        );
        stage.copies.push({ stage: from.slice(7), from: args[0]!, to: args[1]! });
        break;
      }
      case 'WORKDIR':
        stage.workdir = args[0]!;
        break;
      case 'USER':
        stage.user = args[0];
        break;
      case 'CMD':
        stage.cmd = JSON.parse(line.slice(3).trim()) as string[];
        break;
      default:
        break;
    }
  }
  assert(stage.cmd.length > 0, `${dockerfile}: no exec-form CMD in the runtime stage`);
  return stage;
}
