import type { Hono } from 'hono';
import { apiRouter, OPENAPI_PATH } from '../core/http/openapi.ts';
import type { AppEnv } from '../core/http/types.ts';
import type { Services } from '../core/services.ts';
import { authRoutes } from './auth/app.ts';
import { documentRoutes } from './docs/app.ts';
import { messagesRoutes } from './messages/app.ts';
import { roomsRoutes } from './rooms/app.ts';
import { searchRoutes } from './search/app.ts';
import { uploadsRoutes } from './uploads/app.ts';

export { OPENAPI_PATH };

/**
 * The whole REST API, mounted by chained `.route()` so its type (`AppType`, for `hc`)
 * keeps every route, and `GET /api/openapi.json`: the OpenAPI 3.1 document generated from
 * the same route declarations (functions/docs/, which needs no services).
 */
export function createApi(services: Services) {
  return apiRouter()
    .route('/api/auth', authRoutes(services))
    .route('/api/rooms', roomsRoutes(services))
    .route('/api/messages', messagesRoutes(services))
    .route('/api/search', searchRoutes(services))
    .route('/api/upload', uploadsRoutes(services))
    .route('/', documentRoutes());
}

/** The REST API's type: `hc<AppType>(baseUrl)` is a typed client of every route. */
export type AppType = ReturnType<typeof createApi>;

export function mountFunctions(app: Hono<AppEnv>, services: Services): void {
  app.route('/', createApi(services));
}
