import { limitBody } from '../../core/http/app.ts';
import { requireSession } from '../../core/http/session.ts';
import { apiRouter } from '../../core/http/openapi.ts';
import type { Services } from '../../core/services.ts';
import { completeUpload, initUpload } from '../../core/uploads.ts';
import * as routes from './routes.ts';

export type UploadsDeps = Pick<Services, 'config' | 'db' | 'storage'>;

/** /api/upload: presigned uploads straight to the object store, verified at complete. */
export function uploadsRoutes(deps: UploadsDeps) {
  const { config, db } = deps;
  const app = apiRouter();
  app.use(requireSession(config.auth, db), limitBody);
  return app
    .openapi(routes.init, async (c) => {
      return c.json(await initUpload(deps, c.get('session').userId, c.req.valid('json')), 200);
    })
    .openapi(routes.complete, async (c) => {
      const { attachment, created } = await completeUpload(
        { ...deps, logger: c.get('log') },
        c.get('session').userId,
        c.req.valid('json'),
      );
      return c.json({ attachment }, created ? 201 : 200);
    });
}
