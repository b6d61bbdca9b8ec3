import { afterEach, describe, expect, it, vi } from 'vitest';
import { hashPassword, kdf, verifyPassword } from './password.ts';

describe('verifyPassword', () => {
  afterEach(() => vi.restoreAllMocks());

  it('matches the right password only', async () => {
    const stored = await hashPassword('a long enough password');
    expect(await verifyPassword(stored, 'a long enough password')).toBe(true);
    expect(await verifyPassword(stored, 'another password')).toBe(false);
    expect(await verifyPassword(undefined, 'a long enough password')).toBe(false);
  });

  it('matches nothing against a stored hash that does not decode', async () => {
    expect(await verifyPassword('not-an-argon2-hash', 'a long enough password')).toBe(false);
    expect(await verifyPassword('$argon2id$v=19$m=19456,t=2,p=1$broken', 'x')).toBe(false);
  });

  it('lets any other failure of the key derivation through instead of calling it a wrong password', async () => {
    const stored = await hashPassword('a long enough password');
    vi.spyOn(kdf, 'verify').mockRejectedValue(new Error('worker lost'));
    await expect(verifyPassword(stored, 'a long enough password')).rejects.toThrow('worker lost');
  });
});
