import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';

/** Object storage for attachments (S3-compatible). Implemented by the uploads work. */
export interface ObjectStore {
  /** A short-lived signed GET URL for an attachment's object. */
  signGetUrl(object: { key: string; mime: string; filename: string }): Promise<string>;
  close(): Promise<void>;
}

export async function openObjectStore(_config: Config, _logger: Logger): Promise<ObjectStore> {
  return {
    signGetUrl: async () => {
      throw new Error('object storage is not implemented yet');
    },
    close: async () => undefined,
  };
}
