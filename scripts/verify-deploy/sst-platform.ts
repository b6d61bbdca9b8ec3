import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assert, root, run } from './steps.ts';

const SST_ENV = {
  SST_NO_BUN: '1',
  SST_SKIP_DEPENDENCY_CHECK: 'true',
  SST_TELEMETRY_DISABLED: '1',
  SST_STAGE: 'dev',
};

/**
 * The SST platform installed offline (reused when it matches the installed CLI), and
 * sst.config.ts + infra/ type-checked against its component types.
 */
export async function installPlatform(): Promise<string> {
  const installed = join(root, '.sst/platform/version');
  const want = (
    JSON.parse(readFileSync(join(root, 'node_modules/sst/package.json'), 'utf8')) as { version: string }
  ).version;
  const reused =
    existsSync(installed) &&
    readFileSync(installed, 'utf8').trim() === want &&
    existsSync(join(root, '.sst/platform/config.d.ts')) &&
    existsSync(join(root, '.sst/platform/src/components/index.ts'));
  if (!reused) await run('npx', ['sst', 'install'], SST_ENV);
  assert(
    existsSync(join(root, '.sst/platform/config.d.ts')),
    'sst install did not write .sst/platform/config.d.ts',
  );
  await run('npx', ['tsc', '-p', 'infra/tsconfig.json']);
  return `sst ${want} platform ${reused ? 'already installed' : 'installed'}; sst.config.ts + infra/ type-check clean`;
}
