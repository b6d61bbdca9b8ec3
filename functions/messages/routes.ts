import { createRoute } from '@hono/zod-openapi';
import { bodies, errors, json, sessionSecurity } from '../../core/http/openapi.ts';
import { HistoryQuery } from '../../core/schemas.ts';

/** /api/messages, declared. */

export const history = createRoute({
  method: 'get',
  path: '/',
  summary: 'A page of history, always ascending by seq',
  description:
    'The newest page by default; `beforeSeq`/`beforeTs` page backwards, `afterSeq` forwards (exclusive; at most one cursor). `hasMore` is true exactly when more messages exist beyond the page in its direction.',
  tags: ['messages'],
  security: sessionSecurity,
  request: { query: HistoryQuery },
  responses: {
    200: json(bodies.history, 'The page'),
    ...errors('unauthorized', 'invalid_request', 'not_found'),
  },
});
