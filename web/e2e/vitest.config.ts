import { defineConfig } from 'vitest/config';

/** Browser end-to-end tests (`npm run test:e2e`): Debian's /usr/bin/chromium, a real server. */
export default defineConfig({
  test: {
    // The client's unit tests (pure logic) run in the default `npm test`.
    include: ['web/e2e/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
