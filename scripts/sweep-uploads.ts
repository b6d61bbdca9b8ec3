import { loadConfig } from '../core/config.ts';
import { openDatabase } from '../core/db/database.ts';
import { createLogger } from '../core/logger.ts';
import { openObjectStore } from '../core/storage/index.ts';
import { sweepOrphanUploads, sweepOptionsFrom } from '../core/uploads/uploads.ts';

/**
 * One sweep of abandoned uploads (never completed, or completed and never sent). On AWS a
 * scheduled Lambda runs it (infra/storage-sweep.ts), because functions keep no timers and
 * the realtime tasks do not start the in-process sweeper.
 */
export async function handler(): Promise<{ deleted: number; failed: number }> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const db = await openDatabase(config, logger);
  try {
    const storage = await openObjectStore(config, logger);
    try {
      return await sweepOrphanUploads({ db, storage, logger }, sweepOptionsFrom(config));
    } finally {
      await storage.close();
    }
  } finally {
    await db.close();
  }
}
