import { afterAll } from 'vitest';
import { stopAllServers } from './support/server-process.ts';

// Whatever a failed test left running is stopped with its file.
afterAll(async () => {
  await stopAllServers();
});
