import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'client/**/*.test.ts',
      'core/**/*.test.ts',
      'functions/**/*.test.ts',
      'realtime/**/*.test.ts',
      'server/**/*.test.ts',
      'scripts/**/*.test.ts',
      'test/**/*.test.ts',
      'web/src/**/*.test.ts',
    ],
    exclude: ['node_modules/**', 'test/resilience/**', 'web/e2e/**'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup.ts'],
    pool: 'forks',
    // Files in a worker share one database handle (see test/support.ts): booting embedded
    // Postgres costs seconds, so it happens once per worker, not once per file.
    isolate: false,
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
