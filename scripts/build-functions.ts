import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import {
  type LambdaEntry,
  migrateFunction,
  nodejsInstall,
  restFunctions,
  sweepUploadsFunction,
} from '../infra/lambdas.ts';

/**
 * Bundles each Lambda exactly the way `sst deploy` does (SST's pkg/runtime/node/build.go:
 * ESM, esnext, `module` before `main`, keepNames, the createRequire/__dirname banner,
 * `sharp`/`pg-native` and `nodejs.install` packages external and installed beside the
 * bundle, copyFiles), and the realtime entry the same way for the container image.
 * Usage: tsx scripts/build-functions.ts [--out dist] [--only Auth,Rooms] [--realtime]
 */

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const SST_BANNER = [
  `import { createRequire as topLevelCreateRequire } from 'module';`,
  `const require = topLevelCreateRequire(import.meta.url);`,
  `import { fileURLToPath as topLevelFileUrlToPath, URL as topLevelURL } from "url"`,
  `const __filename = topLevelFileUrlToPath(import.meta.url)`,
  `const __dirname = topLevelFileUrlToPath(new topLevelURL(".", import.meta.url))`,
].join('\n');
const FORCE_EXTERNAL = ['sharp', 'pg-native'];

export interface BuiltBundle {
  name: string;
  dir: string;
  /** The bundle file, relative to dir. */
  file: string;
  /** Export to call, for Lambdas. */
  exportName: string;
  /** Bytes of the bundle plus installed packages and copied files. */
  bytes: number;
}

function splitHandler(handler: string): { source: string; exportName: string } {
  const dot = handler.lastIndexOf('.');
  const base = handler.slice(0, dot);
  const source = ['.ts', '.mts', '.js', '.mjs']
    .map((ext) => base + ext)
    .find((f) => existsSync(join(root, f)));
  if (!source) throw new Error(`Handler not found: ${handler}`);
  return { source, exportName: handler.slice(dot + 1) };
}

async function bundle(source: string, outfile: string, install: string[]): Promise<void> {
  const result = await esbuild.build({
    entryPoints: [join(root, source)],
    outfile,
    platform: 'node',
    format: 'esm',
    target: 'esnext',
    mainFields: ['module', 'main'],
    keepNames: true,
    bundle: true,
    metafile: true,
    external: [...FORCE_EXTERNAL, ...install],
    banner: { js: SST_BANNER },
    logLevel: 'warning',
    absWorkingDir: root,
  });
  if (result.errors.length) throw new Error(`esbuild failed for ${source}`);
}

/**
 * What `nodejs.install` produces: each package and its installed dependencies in
 * node_modules beside the bundle (SST runs npm install for linux/x64; this copies the
 * linux/x64 packages the build machine has).
 */
function installBeside(dir: string, packages: string[]): void {
  const done = new Set<string>();
  const copy = (name: string) => {
    if (done.has(name)) return;
    const from = join(root, 'node_modules', name);
    if (!existsSync(from)) return; // an optional dependency for another platform
    done.add(name);
    cpSync(from, join(dir, 'node_modules', name), { recursive: true, dereference: true });
    const pkg = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) copy(dep);
  };
  for (const p of packages) {
    if (!existsSync(join(root, 'node_modules', p)))
      throw new Error(`nodejs.install package not installed: ${p}`);
    copy(p);
  }
}

function sizeOf(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((total, entry) => total + sizeOf(join(path, entry)), 0);
}

export async function buildLambda(entry: LambdaEntry, outRoot: string): Promise<BuiltBundle> {
  const { source, exportName } = splitHandler(entry.handler);
  const dir = join(outRoot, entry.name.toLowerCase());
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // SST names the bundle after the source file, with dots replaced (Lambda allows one).
  const file = `${source
    .split('/')
    .pop()!
    .replace(/\.[^.]+$/, '')
    .replaceAll('.', '-')}.mjs`;
  await bundle(source, join(dir, file), nodejsInstall);
  installBeside(dir, nodejsInstall);
  for (const { from, to } of entry.copyFiles ?? [])
    cpSync(join(root, from), join(dir, to), { recursive: true });
  return { name: entry.name, dir, file, exportName, bytes: sizeOf(dir) };
}

/** The realtime container's application: one bundle plus the native packages it needs. */
export async function buildRealtime(outRoot: string): Promise<BuiltBundle> {
  const dir = join(outRoot, 'realtime');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await bundle('realtime/main.ts', join(dir, 'main.mjs'), nodejsInstall);
  installBeside(dir, nodejsInstall);
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: 'parley-realtime', private: true, type: 'module' }, null, 2)}\n`,
  );
  return { name: 'realtime', dir, file: 'main.mjs', exportName: '', bytes: sizeOf(dir) };
}

export const lambdaEntries: LambdaEntry[] = [...restFunctions, migrateFunction, sweepUploadsFunction];

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const outIndex = args.indexOf('--out');
  const outRoot = resolve(outIndex >= 0 ? args[outIndex + 1]! : join(root, 'dist'));
  const onlyIndex = args.indexOf('--only');
  const only = onlyIndex >= 0 ? args[onlyIndex + 1]!.split(',') : undefined;
  const entries = lambdaEntries.filter((e) => !only || only.includes(e.name));
  const built = args.includes('--realtime')
    ? [await buildRealtime(outRoot)]
    : await Promise.all(entries.map((e) => buildLambda(e, join(outRoot, 'functions'))));
  for (const b of built) {
    console.log(
      `${b.name.padEnd(10)} ${relative(root, join(b.dir, b.file))}  ${(b.bytes / 1024 / 1024).toFixed(1)} MB`,
    );
  }
}
