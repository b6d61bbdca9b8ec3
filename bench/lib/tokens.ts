import { randomUUID } from 'node:crypto';
import { sign } from 'hono/jwt';
import { userId, userName } from './db.ts';

/**
 * Session tokens for the bench users, minted with the JWT_SECRET the harness gives
 * Parley: the same claims as a login issues, without 5000 password hashes.
 */
export const BENCH_JWT_SECRET = 'parley-bench-secret-not-for-production-use-0123456789';

export interface BenchClient {
  token: string;
  userId: string;
  name: string;
}

export async function mintClients(from: number, to: number, ttlSeconds = 3600): Promise<BenchClient[]> {
  const iat = Math.floor(Date.now() / 1000);
  const out: BenchClient[] = [];
  for (let n = from; n <= to; n++) {
    const token = await sign(
      { sub: userId(n), name: userName(n), iat, exp: iat + ttlSeconds, jti: randomUUID() },
      BENCH_JWT_SECRET,
      'HS256',
    );
    out.push({ token, userId: userId(n), name: userName(n) });
  }
  return out;
}
