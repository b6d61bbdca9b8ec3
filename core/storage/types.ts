import type { UploadTarget } from '../schemas.ts';

/** What a client needs to upload one object straight to the store (the wire shape, defined once). */
export type { UploadTarget };

export interface UploadRequest {
  key: string;
  mime: string;
  bytes: number;
  method: 'post' | 'put';
}

/** What the store says about a stored object. */
export interface ObjectInfo {
  bytes: number;
  mime: string | undefined;
}

/** Object storage for attachments (S3-compatible). */
export interface ObjectStore {
  readonly bucket: string;
  /** Unset: AWS S3. */
  readonly endpoint: string | undefined;
  /** True for the development store started in-process. */
  readonly embedded: boolean;
  /** A presigned upload that only accepts this key, this type and exactly this many bytes. */
  presignUpload(request: UploadRequest): Promise<UploadTarget>;
  /** A short-lived signed GET URL for an attachment's object. */
  signGetUrl(object: { key: string; mime: string; filename: string }): Promise<string>;
  /** Size and type of a stored object; null when there is none. */
  head(key: string): Promise<ObjectInfo | null>;
  /** Deletes an object; deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Creates the bucket if missing and sets the CORS rule browsers need to upload and download. */
  ensureBucket(corsOrigins: string[]): Promise<void>;
  close(): Promise<void>;
}
