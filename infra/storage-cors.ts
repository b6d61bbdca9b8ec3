import { publicOrigin } from './router';
import { bucket } from './storage';

/**
 * Browsers upload straight to the bucket (presigned POST) and read attachments from it,
 * from the public origin only. R2's CORS is set in Cloudflare (docs/deploy.md).
 */
export const uploadsCors = bucket
  ? new aws.s3.BucketCorsConfiguration('UploadsCors', {
      bucket: bucket.name,
      corsRules: [
        {
          allowedOrigins: [publicOrigin],
          allowedMethods: ['GET', 'HEAD', 'POST', 'PUT'],
          allowedHeaders: ['*'],
          exposeHeaders: ['ETag'],
          maxAgeSeconds: 3600,
        },
      ],
    })
  : undefined;
