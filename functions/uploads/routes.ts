import { createRoute } from '@hono/zod-openapi';
import { bodies, errors, json, jsonBody, sessionSecurity } from '../../core/http/openapi.ts';
import { UploadCompleteBody, UploadInitBody } from '../../core/schemas.ts';

/** /api/upload, declared. */

const common = { tags: ['uploads'], security: sessionSecurity };

export const init = createRoute({
  ...common,
  method: 'post',
  path: '/init',
  summary: 'Start an upload: a presigned POST form or PUT straight to the object store',
  request: { body: jsonBody(UploadInitBody) },
  responses: {
    200: json(bodies.uploadTarget, 'Where and how to send the bytes'),
    ...errors('unauthorized', 'invalid_request', 'payload_too_large', 'not_found', 'rate_limited'),
  },
});

export const complete = createRoute({
  ...common,
  method: 'post',
  path: '/complete',
  summary: 'Finish an upload: the stored object is checked against what was declared',
  request: { body: jsonBody(UploadCompleteBody) },
  responses: {
    201: json(bodies.attachment, 'The attachment, ready to send with a message'),
    200: json(bodies.attachment, 'Completed before: the same attachment'),
    ...errors('unauthorized', 'invalid_request', 'payload_too_large', 'not_found', 'upload_mismatch'),
  },
});
