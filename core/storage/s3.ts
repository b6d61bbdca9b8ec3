import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutBucketCorsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { contentDisposition } from './content-disposition.ts';
import type { ObjectInfo, ObjectStore, UploadRequest, UploadTarget } from './types.ts';

/** Where the bucket is and how to reach it. */
export interface S3Settings {
  bucket: string;
  /** Unset: AWS S3 in `region`. */
  endpoint: string | undefined;
  region: string;
  /** Unset: the SDK's default chain (environment, instance role, ...). */
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  forcePathStyle: boolean;
}

export interface S3StoreOptions {
  uploadUrlExpiresSeconds: number;
  downloadUrlExpiresSeconds: number;
  /** The signing clock; tests move it to make URLs that are already expired. */
  now?: () => number;
  /** Runs after the client is closed (the embedded server stops here). */
  onClose?: () => Promise<void>;
  embedded?: boolean;
}

/** However configured, a signed upload lives at most this long: a leaked one soon becomes useless. */
const MAX_UPLOAD_URL_SECONDS = 600;

function createS3Client(settings: S3Settings): S3Client {
  return new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    forcePathStyle: settings.forcePathStyle,
    // Checksums on every request break s3rver (aws-chunked bodies stored verbatim) and, in
    // presigned PUTs, would demand a checksum header that browsers do not send.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

const isNotFound = (err: unknown) =>
  err instanceof S3ServiceException &&
  (err.$metadata.httpStatusCode === 404 || err.name === 'NotFound' || err.name === 'NoSuchKey');

/** The object store over any S3-compatible service (AWS S3, R2, MinIO, the embedded s3rver). */
export function createS3Store(settings: S3Settings, options: S3StoreOptions): ObjectStore {
  const client = createS3Client(settings);
  const now = options.now ?? Date.now;
  const uploadSeconds = Math.min(options.uploadUrlExpiresSeconds, MAX_UPLOAD_URL_SECONDS);
  const { bucket } = settings;

  async function presignPost(req: UploadRequest): Promise<UploadTarget> {
    const expiresAt = now() + uploadSeconds * 1000;
    const { url, fields } = await createPresignedPost(client, {
      Bucket: bucket,
      Key: req.key,
      // The policy pins the key (added by the SDK), the exact type and the exact size.
      Conditions: [
        ['eq', '$Content-Type', req.mime],
        ['content-length-range', req.bytes, req.bytes],
      ],
      Fields: { 'Content-Type': req.mime },
      Expires: uploadSeconds,
    });
    return { key: req.key, method: 'POST', url, fields, expiresAt };
  }

  async function presignPut(req: UploadRequest): Promise<UploadTarget> {
    const signingDate = new Date(now());
    const url = await getSignedUrl(
      client,
      new PutObjectCommand({ Bucket: bucket, Key: req.key, ContentType: req.mime, ContentLength: req.bytes }),
      {
        expiresIn: uploadSeconds,
        signingDate,
        // Signed headers must be sent exactly: another type or length fails the signature.
        signableHeaders: new Set(['content-type', 'content-length']),
      },
    );
    return {
      key: req.key,
      method: 'PUT',
      url,
      headers: { 'Content-Type': req.mime, 'Content-Length': String(req.bytes) },
      expiresAt: signingDate.getTime() + uploadSeconds * 1000,
    };
  }

  return {
    bucket,
    endpoint: settings.endpoint,
    embedded: options.embedded ?? false,

    presignUpload: (req) => (req.method === 'post' ? presignPost(req) : presignPut(req)),

    async signGetUrl({ key, mime, filename }) {
      return getSignedUrl(
        client,
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          // Served as the type we verified, never what the bytes look like.
          ResponseContentType: mime,
          ResponseContentDisposition: contentDisposition(filename, mime),
        }),
        { expiresIn: options.downloadUrlExpiresSeconds, signingDate: new Date(now()) },
      );
    },

    async head(key): Promise<ObjectInfo | null> {
      try {
        const res = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return { bytes: res.ContentLength ?? 0, mime: res.ContentType };
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
    },

    async delete(key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },

    async ensureBucket(corsOrigins) {
      try {
        await client.send(new HeadBucketCommand({ Bucket: bucket }));
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
      }
      await client.send(
        new PutBucketCorsCommand({
          Bucket: bucket,
          CORSConfiguration: {
            CORSRules: [
              {
                AllowedOrigins: corsOrigins,
                AllowedMethods: ['GET', 'HEAD', 'PUT', 'POST'],
                AllowedHeaders: ['*'],
                ExposeHeaders: ['ETag'],
                MaxAgeSeconds: 3600,
              },
            ],
          },
        }),
      );
    },

    async close() {
      client.destroy();
      await options.onClose?.();
    },
  };
}
