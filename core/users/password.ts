import { hash, verify } from '@node-rs/argon2';

/** The key derivation the module calls through: one object, so a test can count its calls. */
export const kdf = { hash, verify };

// OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
const OPTIONS = {
  algorithm: 2 /* Argon2id; the enum is a const enum */,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

export const hashPassword = (password: string): Promise<string> => kdf.hash(password, OPTIONS);

let dummyHash: Promise<string> | undefined;

/**
 * Verifies a password against a stored hash, or against a dummy hash when there is no
 * user, so that an unknown username costs the same time as a wrong password.
 */
export async function verifyPassword(storedHash: string | undefined, password: string): Promise<boolean> {
  dummyHash ??= kdf.hash('parley-dummy-password', OPTIONS);
  const target = storedHash ?? (await dummyHash);
  let ok: boolean;
  try {
    ok = await kdf.verify(target, password);
  } catch (err) {
    // A stored hash that does not decode matches no password. Any other failure (the
    // library's worker, memory) is the server's, not a wrong password: answered as
    // `internal` and logged, never as `invalid_credentials` counted against the username.
    if ((err as { code?: unknown }).code !== 'InvalidArg') throw err;
    ok = false;
  }
  return ok && storedHash !== undefined;
}
