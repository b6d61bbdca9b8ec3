import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { createS3Store } from './s3.ts';
import type { ObjectStore } from './types.ts';

export type { ObjectStore, UploadTarget } from './types.ts';

/**
 * The object store chosen from config: the configured bucket (AWS S3, R2, MinIO...) or,
 * with no S3_BUCKET, an embedded s3rver on loopback with its bucket and CORS rule created.
 * Configured buckets are used as they are: creating them and their CORS and lifecycle
 * rules is the deployment's job (see docs/uploads.md).
 */
export async function openObjectStore(config: Config, logger: Logger): Promise<ObjectStore> {
  const s = config.storage;
  const urls = {
    uploadUrlExpiresSeconds: s.uploadUrlExpiresSeconds,
    downloadUrlExpiresSeconds: s.downloadUrlExpiresSeconds,
  };
  if (s.bucket) {
    return createS3Store(
      {
        bucket: s.bucket,
        endpoint: s.endpoint,
        region: s.region,
        credentials:
          s.accessKeyId && s.secretAccessKey
            ? { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey }
            : undefined,
        // Custom endpoints (MinIO, R2, s3rver) all take path-style; only AWS needs virtual hosts.
        forcePathStyle: s.forcePathStyle ?? s.endpoint !== undefined,
      },
      urls,
    );
  }

  // Loaded only when used, so deployed bundles (which always have a bucket) start faster.
  const { startLocalS3 } = await import('./local-s3.ts');
  const local = await startLocalS3({ dataDir: config.dataDir, port: s.localPort }, logger);
  const store = createS3Store(local.settings, { ...urls, embedded: true, onClose: () => local.close() });
  try {
    await store.ensureBucket(config.corsOrigins);
  } catch (err) {
    await store.close();
    throw err;
  }
  const message = `embedded object store (development only) at ${local.endpoint}`;
  // It checks no upload policy or signature and only loopback can reach it.
  if (config.production)
    logger.warn({ endpoint: local.endpoint, bucket: store.bucket }, `${message}: set S3_BUCKET`);
  else logger.info({ endpoint: local.endpoint, bucket: store.bucket }, message);
  return store;
}
