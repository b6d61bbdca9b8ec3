import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A random JWT secret generated on first start and kept in DATA_DIR (mode 600), so local
 * sessions survive restarts and the local tiers share it. Entry points pass it to loadConfig;
 * parsing configuration writes nothing.
 */
export function developmentSecret(dataDir: string): string {
  if (dataDir === ':memory:') return randomBytes(48).toString('base64url');
  const file = join(dataDir, 'jwt-secret');
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing.length >= 32) return existing;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}
