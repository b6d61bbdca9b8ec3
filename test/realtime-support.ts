import type { Room } from '../core/schemas.ts';
import type { Services } from '../core/services.ts';
import { startServer, type RunningServer } from '../server/app.ts';
import { TestAccount } from './accounts.ts';
import { TestUser } from './realtime-client.ts';
import { sharedServices, silentLogger, testConfig, uniqueName } from './support.ts';

export * from './realtime-client.ts';

export interface TestWorld {
  server: RunningServer;
  url: string;
  services: Services;
  user(prefix?: string): Promise<TestUser>;
  /** A room created by `owner` with the others added as members. */
  room(owner: TestUser, ...members: TestUser[]): Promise<Room>;
  close(): Promise<void>;
}

/** The all-in-one server on port 0 over this worker's shared services, with config overrides. */
export async function startWorld(env: Record<string, string> = {}, services?: Services): Promise<TestWorld> {
  const base = services ?? (await sharedServices());
  const config = testConfig({ RATE_LIMIT_REGISTER_PER_HOUR: '1000000', ...env });
  const server = await startServer(config, silentLogger, { ...base, config });
  const url = server.url;
  return {
    server,
    url,
    services: base,
    async user(prefix = 'rt') {
      const api = new TestAccount(url, uniqueName(prefix));
      await api.register();
      return new TestUser(api, url);
    },
    async room(owner, ...members) {
      const room = await owner.api.createRoom('realtime');
      for (const m of members) {
        const res = await owner.api.addMember(room.id, m.name);
        if (res.status !== 201) throw new Error(`addMember ${res.status}`);
      }
      return room;
    },
    close: () => server.close(),
  };
}
