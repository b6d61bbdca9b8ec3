import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import type { Logger } from '../logger.ts';
import type { S3Settings } from './s3.ts';

export interface LocalS3 {
  settings: S3Settings;
  /** Where clients reach it, e.g. http://127.0.0.1:4568. */
  endpoint: string;
  close(): Promise<void>;
}

export interface LocalS3Options {
  /** ':memory:' keeps objects in a temporary directory removed on close. */
  dataDir: string;
  /** 0: any free port. */
  port: number;
  bucket?: string;
}

// s3rver's built-in account: it checks the key id, not the signature.
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const LOCAL_BUCKET = 'parley-local';

/**
 * The embedded development store: an S3-compatible server (s3rver) on loopback. The
 * product talks to it through the same S3 code path as production, but it enforces no POST
 * policy and no signature (only the key id and the expiry of presigned GETs): it is for
 * development and tests, never for production.
 */
export async function startLocalS3(options: LocalS3Options, logger: Logger): Promise<LocalS3> {
  const temporary = options.dataDir === ':memory:';
  const directory = temporary ? mkdtempSync(join(tmpdir(), 'parley-s3-')) : join(options.dataDir, 's3');
  if (!temporary) mkdirSync(directory, { recursive: true });

  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port,
    silent: true,
    directory,
    vhostBuckets: false,
  });
  let address;
  try {
    address = await server.run();
  } catch (err) {
    if (temporary) rmSync(directory, { recursive: true, force: true });
    throw err;
  }
  // A process that exits without closing (a test worker) still leaves no temporary objects.
  const removeTemporary = () => rmSync(directory, { recursive: true, force: true });
  if (temporary) process.once('exit', removeTemporary);
  const endpoint = `http://127.0.0.1:${address.port}`;
  logger.debug({ endpoint, directory }, 'embedded object store started');

  return {
    endpoint,
    settings: {
      bucket: options.bucket ?? LOCAL_BUCKET,
      endpoint,
      region: 'us-east-1',
      credentials: CREDENTIALS,
      forcePathStyle: true,
    },
    async close() {
      const closed = server.close();
      // Keep-alive connections (browsers, fetch, the SDK) would hold close() open for seconds.
      server.httpServer?.closeAllConnections();
      await closed;
      if (temporary) {
        process.off('exit', removeTemporary);
        removeTemporary();
      }
    },
  };
}
