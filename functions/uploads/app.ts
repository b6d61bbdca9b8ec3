import { Hono } from 'hono';
import { limitBody } from '../../core/http/app.ts';
import { requireSession } from '../../core/http/session.ts';
import type { AppEnv } from '../../core/http/types.ts';
import { validate } from '../../core/http/validation.ts';
import { UploadCompleteBody, UploadInitBody } from '../../core/schemas.ts';
import type { Services } from '../../core/services.ts';
import { completeUpload, initUpload } from '../../core/uploads.ts';

export type UploadsDeps = Pick<Services, 'config' | 'db' | 'storage'>;

/** /api/upload: presigned uploads straight to the object store, verified at complete. */
export function uploadsRoutes(deps: UploadsDeps) {
  const { config, db } = deps;
  return new Hono<AppEnv>()
    .use(requireSession(config.auth, db), limitBody)
    .post('/init', validate('json', UploadInitBody), async (c) => {
      return c.json(await initUpload(deps, c.get('session').userId, c.req.valid('json')));
    })
    .post('/complete', validate('json', UploadCompleteBody), async (c) => {
      const { attachment, created } = await completeUpload(
        { ...deps, logger: c.get('log') },
        c.get('session').userId,
        c.req.valid('json'),
      );
      return c.json({ attachment }, created ? 201 : 200);
    });
}
