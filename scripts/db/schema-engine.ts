import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import type * as Wasm from '@prisma/schema-engine-wasm';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { MIGRATIONS_DIR } from '../../core/db/migrate.ts';

/**
 * Prisma's schema engine compiled to WebAssembly (`@prisma/schema-engine-wasm`, a dev
 * dependency): diffs and creates migrations without the native engine, which Prisma's CLI
 * downloads from a host outside the npm registry. Talks to the database through a driver
 * adapter (PGlite or pg). Used by the drift test and `npm run db:migration:create`, never
 * by the running product.
 */

export const SCHEMA_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../prisma/schema.prisma');

export interface SchemaFile {
  path: string;
  content: string;
}

type WasmModule = typeof Wasm;
let loading: Promise<WasmModule> | undefined;

/**
 * The package's entry imports the .wasm file as an ES module, which Node 20 cannot do
 * without a flag; instantiate it by hand with the generated JS glue as its import object.
 */
function loadSchemaEngineWasm(): Promise<WasmModule> {
  loading ??= (async () => {
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve('@prisma/schema-engine-wasm/schema_engine_bg'));
    const glue = (await import(pathToFileURL(join(dir, 'schema_engine_bg.js')).href)) as WasmModule & {
      __wbg_set_wasm(exports: WebAssembly.Exports): void;
    };
    const bytes = await readFile(join(dir, 'schema_engine_bg.wasm'));
    const { instance } = await WebAssembly.instantiate(bytes, { './schema_engine_bg.js': glue });
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return glue;
  })();
  return loading;
}

export async function readSchemaFiles(schemaPath = SCHEMA_PATH): Promise<SchemaFile[]> {
  return [{ path: schemaPath, content: await readFile(schemaPath, 'utf8') }];
}

/** The engine's view of a prisma/migrations directory, read the way Prisma's CLI reads it. */
async function readMigrationList(dir = MIGRATIONS_DIR): Promise<Wasm.MigrationList> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const lockPath = join(dir, 'migration_lock.toml');
  return {
    baseDir: dir,
    lockfile: { path: lockPath, content: await readFile(lockPath, 'utf8').catch(() => null) },
    shadowDbInitScript: '',
    migrationDirectories: await Promise.all(
      names.map(async (name) => ({
        path: name,
        migrationFile: {
          path: 'migration.sql',
          content: await readFile(join(dir, name, 'migration.sql'), 'utf8').then(
            (value) => ({ tag: 'ok' as const, value }),
            (err: Error) => ({ tag: 'error' as const, value: err.message }),
          ),
        },
      })),
    ),
  };
}

/** A database the engine reads (the "datasource") plus a way to make throw-away shadow databases. */
export interface EngineDatabase {
  factory: SqlMigrationAwareDriverAdapterFactory;
  close(): Promise<void>;
}

/**
 * PGlite for the engine: `main`, or else an empty scratch database. Shadow databases are
 * in-memory PGlites closed with this handle (the adapter's own are never closed), and
 * scripts are awaited: the adapter's executeScript does not await PGlite, so a failing
 * migration would go unreported.
 */
export function pgliteEngineDatabase(main?: PGlite): EngineDatabase {
  const opened: PGlite[] = [];
  let scratchUnused: PGlite | undefined;
  const boot = () => {
    const lite = new PGlite();
    opened.push(lite);
    return lite;
  };
  const adapt = async (lite: PGlite): Promise<SqlDriverAdapter> => {
    const adapter = (await new PrismaPGlite(lite).connect()) as unknown as SqlDriverAdapter;
    adapter.executeScript = async (script) => void (await lite.exec(script));
    return adapter;
  };
  return {
    factory: {
      provider: 'postgres',
      adapterName: 'pglite-prisma-adapter',
      // The engine connects to the main database when it starts, even for commands that
      // never query it; a scratch main is left empty, so it can serve as the first shadow
      // database and save a PGlite boot (seconds).
      connect: () => adapt(main ?? (scratchUnused = boot())),
      connectToShadowDb: () => {
        const lite = scratchUnused ?? boot();
        scratchUnused = undefined;
        return adapt(lite);
      },
    },
    close: async () => {
      await Promise.all(opened.splice(0).map((l) => l.close()));
    },
  };
}

/**
 * pg's result fields, with Postgres' one-byte `"char"` type (pg_class.relkind,
 * pg_constraint.contype...) reported as text: @prisma/adapter-pg 7.10 rejects it, which
 * makes the engine fail to describe any schema.
 */
class CatalogFriendlyPool extends pg.Pool {
  // @ts-expect-error pg's overloads cannot be restated; every call is forwarded unchanged.
  override query(...args: Parameters<pg.Pool['query']>) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const result = (super.query as (...a: unknown[]) => any)(...args);
    if (result && typeof result.then === 'function') {
      return result.then((r: pg.QueryResult) => {
        for (const f of r.fields ?? []) if (f.dataTypeID === 18) f.dataTypeID = 25;
        return r;
      });
    }
    return result;
  }
}

/** Real Postgres for the engine. No shadow database: adapter-pg 7.10's is broken (see platform notes). */
export function postgresEngineDatabase(url: string): EngineDatabase {
  const pool = new CatalogFriendlyPool({ connectionString: url, max: 2, connectionTimeoutMillis: 5_000 });
  // Still a pg.Pool at runtime (adapter-pg checks instanceof); only the overridden query typing differs.
  const adapterFactory = new PrismaPg(pool as unknown as ConstructorParameters<typeof PrismaPg>[0]);
  return {
    factory: {
      provider: 'postgres',
      adapterName: adapterFactory.adapterName,
      connect: () => adapterFactory.connect(),
      connectToShadowDb: () =>
        Promise.reject(new Error('no shadow database on real Postgres here: use PGlite')),
    },
    close: () => pool.end(),
  };
}

const NO_FILTERS: Wasm.SchemaFilter = { externalTables: [], externalEnums: [] };

export interface SchemaEngine {
  /** SQL taking the database to `schema`, or null when the database already matches it. */
  diffDatabaseToSchema(schema: SchemaFile[]): Promise<string | null>;
  /** SQL taking the state the migrations build to `schema`, or null (uses a shadow database). */
  diffMigrationsToSchema(migrationsDir: string, schema: SchemaFile[]): Promise<string | null>;
  close(): Promise<void>;
}

export async function openSchemaEngine(db: EngineDatabase, schema: SchemaFile[]): Promise<SchemaEngine> {
  const wasm = await loadSchemaEngineWasm();
  const engine = await wasm.SchemaEngine.new(
    { datamodels: schema.map((f) => [f.path, f.content]) },
    () => undefined,
    bindMigrationAwareSqlAdapterFactory(db.factory),
  );
  const diff = async (from: Wasm.DiffTarget, to: SchemaFile[]) => {
    const result = await engine.diff({
      from,
      to: { tag: 'schemaDatamodel', files: to },
      script: true,
      exitCode: true,
      filters: NO_FILTERS,
    });
    // exitCode 2 means "the diff is not empty" (as `prisma migrate diff --exit-code`).
    return result.exitCode === 0 ? null : (result.stdout ?? '');
  };
  return {
    diffDatabaseToSchema: (to) =>
      diff({ tag: 'schemaDatasource', files: schema, configDir: dirname(schema[0]?.path ?? '.') }, to),
    diffMigrationsToSchema: async (dir, to) =>
      diff({ tag: 'migrations', ...(await readMigrationList(dir)) }, to),
    close: async () => {
      engine.free();
      await db.close();
    },
  };
}
