import { mergePath } from 'hono/utils/url';
import {
  apiRouter,
  documentInfo,
  documentRoute,
  registerDocumentComponents,
} from '../../core/http/openapi.ts';
import * as auth from '../auth/routes.ts';
import * as messages from '../messages/routes.ts';
import * as rooms from '../rooms/routes.ts';
import * as search from '../search/routes.ts';
import * as uploads from '../uploads/routes.ts';

/** Where each concern's routes are mounted (functions/index.ts mounts the same). */
const MOUNTS = [
  ['/api/auth', auth],
  ['/api/rooms', rooms],
  ['/api/messages', messages],
  ['/api/search', search],
  ['/api/upload', uploads],
] as const;

/**
 * The OpenAPI 3.1 document from the route declarations alone: no handler, no service, no
 * database connection, so a function with nothing else to do can serve it. A test holds it
 * equal to the document the full API generates from its mounted routes.
 */
export function apiDocument() {
  const app = apiRouter();
  registerDocumentComponents(app);
  for (const [prefix, routes] of MOUNTS) {
    for (const route of Object.values(routes)) {
      app.openAPIRegistry.registerPath({ ...route, path: mergePath(prefix, route.path) });
    }
  }
  app.openAPIRegistry.registerPath(documentRoute);
  return app.getOpenAPI31Document(documentInfo);
}
