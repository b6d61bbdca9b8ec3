import { defineConfig } from 'vitest/config';

/**
 * The resilience suite (`npm run test:resilience`): faults, hostile input and load against
 * real processes, Postgres (scratch databases on 127.0.0.1:5432, reached through our own
 * TCP proxy when a test cuts it), private redis-server processes and Socket.IO clients.
 * Files run one at a time: each starts its own servers and measures them.
 */
export default defineConfig({
  test: {
    include: ['test/resilience/**/*.test.ts'],
    // In-process scenarios use the same services as `npm test`: TEST_DATABASE_URL and
    // TEST_REDIS_URL select real ones; the process scenarios make their own regardless.
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/resilience/setup.ts'],
    pool: 'forks',
    // --expose-gc: memory figures are compared after a full collection, not by luck.
    execArgv: ['--expose-gc'],
    fileParallelism: false,
    maxWorkers: 1,
    isolate: true,
    testTimeout: 300_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
