import { requireSession } from '../../core/http/session.ts';
import { apiRouter } from '../../core/http/openapi.ts';
import { readHistoryForMember } from '../../core/messages/messages.ts';
import type { Services } from '../../core/services.ts';
import * as routes from './routes.ts';

export type MessagesDeps = Pick<Services, 'config' | 'db' | 'storage'>;

/** /api/messages: history pages by seq or ts cursor, always ascending. */
export function messagesRoutes(deps: MessagesDeps) {
  const { config, db, storage } = deps;
  const app = apiRouter();
  app.use(requireSession(config.auth, db));
  return app.openapi(routes.history, async (c) => {
    const page = await readHistoryForMember(db, c.get('session').userId, c.req.valid('query'), (a) =>
      storage.signGetUrl(a),
    );
    return c.json(page, 200);
  });
}
