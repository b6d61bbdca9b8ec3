import type { TypedResponse } from 'hono';
import { requireSession } from '../../core/http/session.ts';
import { apiRouter } from '../../core/http/openapi.ts';
import { readHistoryBodyForMember } from '../../core/messages/messages.ts';
import type { HistoryPage } from '../../core/schemas.ts';
import type { Services } from '../../core/services.ts';
import * as routes from './routes.ts';

export type MessagesDeps = Pick<Services, 'config' | 'db' | 'storage'>;

/** /api/messages: history pages by seq or ts cursor, always ascending. */
export function messagesRoutes(deps: MessagesDeps) {
  const { config, db, storage } = deps;
  const app = apiRouter();
  app.use(requireSession(config.auth, db));
  return app.openapi(routes.history, async (c) => {
    // The body as the page's statement wrote it (core/messages/page-sql.ts): no objects are
    // built and stringified again for a page without attachments.
    const body = await readHistoryBodyForMember(db, c.get('session').userId, c.req.valid('query'), (a) =>
      storage.signGetUrl(a),
    );
    return c.body(body, 200, { 'Content-Type': 'application/json' }) as unknown as TypedResponse<
      HistoryPage,
      200,
      'json'
    >;
  });
}
