// Generates the Prisma client without Prisma's native schema engine: `prisma generate`
// does not use it, but the CLI probes for it and would try to download it from a host
// outside the npm registry. Pointing the probe at /bin/false keeps generate offline.
import { spawnSync } from 'node:child_process';

const result = spawnSync('npx', ['prisma', 'generate'], {
  stdio: 'inherit',
  env: {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? '/bin/false',
  },
});
process.exit(result.status ?? 1);
