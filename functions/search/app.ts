import { requireSession } from '../../core/http/session.ts';
import { apiRouter } from '../../core/http/openapi.ts';
import { toWireMessages } from '../../core/messages/messages.ts';
import { searchMessages } from '../../core/search/search.ts';
import type { Services } from '../../core/services.ts';
import * as routes from './routes.ts';

export type SearchDeps = Pick<Services, 'config' | 'db' | 'storage'>;

/** /api/search: full-text search over the caller's current rooms (core/search/search.ts). */
export function searchRoutes(deps: SearchDeps) {
  const { config, db, storage } = deps;
  const app = apiRouter();
  app.use(requireSession(config.auth, db));
  return app.openapi(routes.search, async (c) => {
    const page = await searchMessages(db, c.get('session').userId, c.req.valid('query'));
    const messages = await toWireMessages(page.messages, (a) => storage.signGetUrl(a));
    return c.json({ messages, nextCursor: page.nextCursor }, 200);
  });
}
