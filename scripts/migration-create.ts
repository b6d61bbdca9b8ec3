// `npm run db:migration:create -- <name>`: adds prisma/migrations/<timestamp>_<name>/migration.sql
// taking the existing migrations to prisma/schema.prisma. Prisma's `migrate dev --create-only`
// needs the native schema engine, which is downloaded from outside the npm registry; this
// uses the WASM build of the same engine and in-memory PGlite: no network, no database server.
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { createMigration } from './db/migration-create.ts';
import { MIGRATIONS_DIR } from '../core/db/migrate.ts';
import { SCHEMA_PATH } from './db/schema-engine.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    schema: { type: 'string', default: SCHEMA_PATH },
    migrations: { type: 'string', default: MIGRATIONS_DIR },
  },
});
const name = positionals[0];
if (!name || positionals.length > 1) {
  console.error(
    'usage: npm run db:migration:create -- <name> [--schema <schema.prisma>] [--migrations <dir>]',
  );
  process.exit(64);
}

const created = await createMigration(name, { schemaPath: values.schema, migrationsDir: values.migrations });
if (!created) {
  console.log('schema.prisma and the migrations already agree: no migration created.');
} else {
  console.log(
    `created ${relative(process.cwd(), join(values.migrations, created.folder, 'migration.sql'))}\n\n${created.sql}`,
  );
}
