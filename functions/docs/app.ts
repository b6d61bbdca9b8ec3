import { Hono } from 'hono';
import { OPENAPI_PATH } from '../../core/http/openapi.ts';
import type { AppEnv } from '../../core/http/types.ts';
import { apiDocument } from './document.ts';

/** `GET /api/openapi.json`, built once per process from the route declarations. */
export function documentRoutes() {
  let document: ReturnType<typeof apiDocument> | undefined;
  return new Hono<AppEnv>().get(OPENAPI_PATH, (c) => c.json((document ??= apiDocument())));
}
