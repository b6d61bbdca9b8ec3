import type { Hono } from 'hono';
import type { AppEnv } from '../core/http/types.ts';
import type { Services } from '../core/services.ts';
import { authRoutes } from './auth/app.ts';
import { messagesRoutes } from './messages/app.ts';
import { roomsRoutes } from './rooms/app.ts';
import { uploadsRoutes } from './uploads/app.ts';

/** Every REST concern and the path it serves; each is also deployed as its own function. */
export const functionRoutes = {
  '/api/auth': authRoutes,
  '/api/rooms': roomsRoutes,
  '/api/messages': messagesRoutes,
  '/api/upload': uploadsRoutes,
} as const satisfies Record<string, (services: Services) => Hono<AppEnv>>;

export function mountFunctions(app: Hono<AppEnv>, services: Services): void {
  for (const [path, routes] of Object.entries(functionRoutes)) app.route(path, routes(services));
}
