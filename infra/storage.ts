import { r2, useR2 } from './secrets';
import { endpointOrigins, s3Origins } from './web-headers';

/**
 * Attachments. On AWS: a private S3 bucket; browsers upload with presigned POST straight to
 * it and download through short-lived signed GET URLs. The functions and tasks reach it
 * with their IAM role: no static keys. Its CORS rule names the public origin, so it is a
 * resource of its own (infra/storage-cors.ts), created after the router: the router's
 * header function needs the bucket's name first.
 */
export const bucket = useR2 ? undefined : new sst.aws.Bucket('Uploads', { cors: false });

// Completed-but-never-sent uploads are swept by the app (UPLOAD_UNSENT_TTL_SECONDS); the
// bucket itself drops multipart uploads a client started and abandoned.
if (bucket) {
  new aws.s3.BucketLifecycleConfiguration('UploadsLifecycle', {
    bucket: bucket.name,
    rules: [
      {
        id: 'abort-unfinished-multipart-uploads',
        status: 'Enabled',
        filter: {},
        abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
      },
    ],
  });
}

/** Where browsers upload to and load attachments from: the only non-self CSP sources. */
export const storeOrigins: $util.Output<string[]> = r2
  ? r2.endpoint.value.apply(endpointOrigins)
  : $util
      .all([bucket!.name, aws.getRegionOutput().region])
      .apply(([name, region]) => s3Origins(name, region));

/** The S3_* variables of core/config.ts for the chosen object store. */
export function storageEnvironment(): Record<string, $util.Input<string>> {
  if (r2) {
    return {
      S3_ENDPOINT: r2.endpoint.value,
      S3_BUCKET: r2.bucket.value,
      S3_REGION: 'auto',
      S3_ACCESS_KEY_ID: r2.accessKeyId.value,
      S3_SECRET_ACCESS_KEY: r2.secretAccessKey.value,
      // R2 answers presigned POST with 501: sign PUTs instead.
      UPLOAD_METHOD: 'put',
    };
  }
  return {
    S3_BUCKET: bucket!.name,
    S3_REGION: aws.getRegionOutput().region,
    UPLOAD_METHOD: 'post',
  };
}

/** What a component that touches objects links to (IAM permissions on AWS). */
export const storageLinks = bucket ? [bucket] : [];
