import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Builds the browser client into a static site (index.html + content-hashed JS/CSS), served
 * by `npm start` at `/` and deployable to any static host. Run by `npm install`
 * (postinstall) and `npm run build:web`; the e2e tests call `buildWeb()` themselves.
 */

const webDir = dirname(fileURLToPath(import.meta.url));

export interface BuildResult {
  outdir: string;
  /** Bytes per emitted file, for the build summary. */
  files: Record<string, number>;
}

export async function buildWeb({ outdir = join(webDir, 'dist'), minify = true } = {}): Promise<BuildResult> {
  // Imported lazily: esbuild is a dev dependency, absent from production installs.
  const esbuild = await import('esbuild');
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const result = await esbuild.build({
    entryPoints: [join(webDir, 'src/main.ts'), join(webDir, 'src/styles.css')],
    bundle: true,
    format: 'esm',
    target: ['es2022', 'chrome111', 'firefox115', 'safari16'],
    minify,
    sourcemap: 'linked',
    // Hashed names let the server cache assets forever while index.html is always revalidated.
    entryNames: '[name]-[hash]',
    outdir,
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
  });

  const outputs = Object.keys(result.metafile.outputs).filter((f) => !f.endsWith('.map'));
  const script = outputs.find((f) => f.endsWith('.js'));
  const style = outputs.find((f) => f.endsWith('.css'));
  if (!script || !style) throw new Error('web build produced no script or stylesheet');

  const template = await readFile(join(webDir, 'index.html'), 'utf8');
  const html = template
    .replace('%SCRIPT%', `./${basename(script)}`)
    .replace('%STYLE%', `./${basename(style)}`);
  await writeFile(join(outdir, 'index.html'), html);
  await cp(join(webDir, 'public'), outdir, { recursive: true });

  const files: Record<string, number> = { 'index.html': Buffer.byteLength(html) };
  for (const f of outputs) files[relative(outdir, f)] = result.metafile.outputs[f]!.bytes;
  return { outdir, files };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // From postinstall, a production install (no dev dependencies) skips the build instead of
  // failing: it deploys a web/dist built elsewhere, or none.
  if (process.argv.includes('--if-possible')) {
    try {
      await import('esbuild');
      await import('socket.io-client');
    } catch {
      process.stdout.write('web client not built: esbuild or socket.io-client is not installed\n');
      process.exit(0);
    }
  }
  const { outdir, files } = await buildWeb();
  const total = Object.values(files).reduce((a, b) => a + b, 0);
  const list = Object.entries(files)
    .map(([f, n]) => `${f} ${(n / 1024).toFixed(1)} KiB`)
    .join(', ');
  process.stdout.write(
    `web client built in ${relative(process.cwd(), outdir)}: ${list} (total ${(total / 1024).toFixed(1)} KiB)\n`,
  );
}
