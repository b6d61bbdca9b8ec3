import { defineConfig } from 'prisma/config';

// The datasource URL is only needed by CLI commands that talk to a database; the
// application builds its own adapter from core/config.ts.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
