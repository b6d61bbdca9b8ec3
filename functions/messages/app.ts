import { Hono } from 'hono';
import { requireSession } from '../../core/http/session.ts';
import type { AppEnv } from '../../core/http/types.ts';
import { validate } from '../../core/http/validation.ts';
import { readHistoryForMember, toWireMessages } from '../../core/messages.ts';
import { HistoryQuery } from '../../core/schemas.ts';
import type { Services } from '../../core/services.ts';

export type MessagesDeps = Pick<Services, 'config' | 'db' | 'storage'>;

/** /api/messages: history pages by seq or ts cursor, always ascending. */
export function messagesRoutes(deps: MessagesDeps) {
  const { config, db, storage } = deps;
  return new Hono<AppEnv>()
    .use(requireSession(config.auth, db))
    .get('/', validate('query', HistoryQuery), async (c) => {
      const page = await readHistoryForMember(db, c.get('session').userId, c.req.valid('query'));
      const messages = await toWireMessages(page.messages, (a) => storage.signGetUrl(a));
      return c.json({ messages, hasMore: page.hasMore });
    });
}
