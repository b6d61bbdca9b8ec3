import { consume } from '../../core/redis/counters.ts';
import { rateLimited } from '../../core/errors.ts';
import { limitBody } from '../../core/http/app.ts';
import { requireSession } from '../../core/http/session.ts';
import { apiRouter } from '../../core/http/openapi.ts';
import { rateLimitRefusals } from '../../core/metrics.ts';
import type { Services } from '../../core/services.ts';
import { completeUpload, initUpload } from '../../core/uploads/uploads.ts';
import * as routes from './routes.ts';

export type UploadsDeps = Pick<Services, 'config' | 'db' | 'storage' | 'counters'>;

/** /api/upload: presigned uploads straight to the object store, verified at complete. */
export function uploadsRoutes(deps: UploadsDeps) {
  const { config, db } = deps;
  const app = apiRouter();
  app.use(requireSession(config.auth, db), limitBody);
  return app
    .openapi(routes.init, async (c) => {
      const userId = c.get('session').userId;
      // Each init writes a pending row and signs a URL: bounded per user.
      const check = await consume(deps.counters, [
        { key: `upload-init:user:${userId}`, ...config.limits.uploadInitPerUser },
      ]);
      if (!check.allowed) {
        rateLimitRefusals.inc({ event: 'upload_init' });
        throw rateLimited(check.retryAfterMs);
      }
      return c.json(await initUpload(deps, userId, c.req.valid('json')), 200);
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
