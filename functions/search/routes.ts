import { createRoute } from '@hono/zod-openapi';
import { bodies, errors, json, sessionSecurity } from '../../core/http/openapi.ts';
import { SearchQuery } from '../../core/schemas.ts';

/** /api/search, declared. */

export const search = createRoute({
  method: 'get',
  path: '/',
  summary: "Full-text search over the caller's rooms, newest first",
  description:
    "Messages of the rooms the caller is a member of now (or of `roomId`) matching every word of `q`, the last word as a prefix; words are split on white space and matched case-insensitively as Postgres's `simple` configuration splits and lower-cases them. Deleted messages never match; an edited message matches its current text. Pass `nextCursor` as `cursor` for the next page (`null` on the last). See docs/api.md.",
  tags: ['search'],
  security: sessionSecurity,
  request: { query: SearchQuery },
  responses: {
    200: json(bodies.search, 'A page of matches, newest first'),
    ...errors('unauthorized', 'invalid_request', 'not_found'),
  },
});
