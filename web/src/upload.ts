import type { Attachment } from '../../core/schemas.ts';
import type { UploadTarget } from '../../core/schemas.ts';
import { ApiError, client } from './client.ts';
import { formatBytes } from './dom.ts';

/**
 * An attachment upload: ask the server for a signed target, send the bytes straight to the
 * object store with progress (XMLHttpRequest: fetch has no upload progress), then confirm.
 */

export interface UploadHandle {
  promise: Promise<Attachment>;
  cancel(): void;
}

export class UploadError extends Error {
  constructor(
    message: string,
    readonly cancelled = false,
  ) {
    super(message);
    this.name = 'UploadError';
  }
}

export function uploadFile(roomId: string, file: File, onProgress: (fraction: number) => void): UploadHandle {
  let xhr: XMLHttpRequest | undefined;
  let cancelled = false;

  const run = async (): Promise<Attachment> => {
    // Browsers report '' for types they do not know; the server then explains the refusal.
    const mime = file.type || 'application/octet-stream';
    let target: UploadTarget;
    try {
      target = await client.uploads.init({ roomId, filename: file.name || 'file', mime, bytes: file.size });
    } catch (err) {
      throw new UploadError(explainRefusal(err, file, mime));
    }
    if (cancelled) throw new UploadError('Upload cancelled', true);
    await send(
      target,
      file,
      onProgress,
      (x) => (xhr = x),
      () => cancelled,
    );
    try {
      return await client.uploads.complete(roomId, target.key);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'upload_mismatch') {
        throw new UploadError('The stored file did not match what was announced; please try again.');
      }
      throw new UploadError(err instanceof Error ? err.message : 'Upload failed');
    }
  };

  return {
    promise: run(),
    cancel() {
      cancelled = true;
      xhr?.abort();
    },
  };
}

function send(
  target: UploadTarget,
  file: File,
  onProgress: (fraction: number) => void,
  started: (xhr: XMLHttpRequest) => void,
  isCancelled: () => boolean,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    started(xhr);
    xhr.open(target.method, target.url);
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
      } else {
        reject(new UploadError(`The file store refused the upload (HTTP ${xhr.status}).`));
      }
    });
    xhr.addEventListener('error', () =>
      reject(new UploadError('The upload failed: the file store could not be reached.')),
    );
    xhr.addEventListener('abort', () => reject(new UploadError('Upload cancelled', true)));
    if (isCancelled()) {
      xhr.abort();
      return;
    }
    if (target.method === 'POST') {
      // A presigned POST: every policy field first, the file last (S3 ignores fields after it).
      const form = new FormData();
      for (const [name, value] of Object.entries(target.fields)) form.append(name, value);
      form.append('file', file);
      xhr.send(form);
    } else {
      // A presigned PUT signs exactly these headers (Content-Length is set by the browser).
      for (const [name, value] of Object.entries(target.headers)) {
        if (name.toLowerCase() !== 'content-length') xhr.setRequestHeader(name, value);
      }
      xhr.send(file);
    }
  });
}

/** Turns the server's refusal of an upload into a sentence a user can act on. */
function explainRefusal(err: unknown, file: File, mime: string): string {
  if (!(err instanceof ApiError)) return 'The upload could not be started.';
  if (err.code === 'payload_too_large') {
    const limit = /(\d+) bytes/.exec(err.message);
    return `“${file.name}” is too large (${formatBytes(file.size)}).${limit ? ` The limit is ${formatBytes(Number(limit[1]))}.` : ''}`;
  }
  if (err.code === 'invalid_request') {
    if (file.size === 0) return `“${file.name}” is empty.`;
    const mimeIssue = err.issues.find((i) => String(i.path) === 'mime');
    if (mimeIssue || /type|mime/i.test(err.message)) {
      const allowed = /one of (.+)$/.exec(mimeIssue?.message ?? '')?.[1];
      const what =
        mime === 'application/octet-stream'
          ? `“${file.name}” is of an unknown type`
          : `Files of type ${mime}`;
      return `${what} cannot be shared here.${allowed ? ` Allowed: ${allowed}.` : ''}`;
    }
    return `“${file.name}” cannot be uploaded: ${err.message}`;
  }
  if (err.code === 'not_found') return 'You are no longer a member of this room.';
  if (err.code === 'rate_limited') return 'Too many uploads at once; wait a moment and try again.';
  return err.message;
}
