import type { Config } from '../config.ts';
import type { CounterStore, LimitedHit } from '../redis/counters.ts';
import { AppError, rateLimited } from '../errors.ts';
import { rateLimitRefusals } from '../metrics.ts';
import { usernameKey } from '../users/users.ts';

export interface LoginAttempt {
  /** The client address the request came from (see core/http/client-address.ts). */
  address: string;
  /** As typed: another spelling of the same name is the same account. */
  username: string;
}

export type LoginLimits = Pick<
  Config['limits'],
  'loginFailuresPerUsername' | 'loginFailuresPerAddress' | 'loginWindowMs'
>;

/**
 * Brute-force throttling of password checks, per username and per client address, that
 * holds under concurrency: a unit is reserved on both counters *before* the password is
 * verified (atomically, all or nothing), kept when the password is wrong and given back
 * when it is right. Of a burst of any size, at most the limit reach the verification; the
 * rest answer `429 rate_limited` (right password or not) until the window passes.
 *
 * Every route that checks a password (login, and the native clients' token route) calls
 * `verify` through `guard`, so they share one set of counters.
 */
export function loginThrottle(counters: CounterStore, limits: LoginLimits) {
  const rules = ({ address, username }: LoginAttempt): LimitedHit[] => [
    {
      key: `login:user:${usernameKey(username).slice(0, 64)}`,
      windowMs: limits.loginWindowMs,
      limit: limits.loginFailuresPerUsername,
    },
    { key: `login:addr:${address}`, windowMs: limits.loginWindowMs, limit: limits.loginFailuresPerAddress },
  ];

  return {
    /**
     * Runs `verify` if the attempt is within both limits. Resolves with what `verify` found;
     * `invalid_credentials` when it found nothing (the failure stays counted), `rate_limited`
     * without calling it when over a limit.
     */
    async guard<T>(attempt: LoginAttempt, verify: () => Promise<T | null>): Promise<T> {
      const reserved = rules(attempt);
      const check = await counters.reserve(reserved);
      if (!check.allowed) {
        rateLimitRefusals.inc({ event: 'login' });
        throw rateLimited(check.retryAfterMs);
      }
      let found: T | null;
      try {
        found = await verify();
      } catch (err) {
        // Not evaluated (the database was away, say): the attempt does not count as a failure.
        await counters.release(reserved.map((r) => r.key)).catch(() => undefined);
        throw err;
      }
      if (found === null) throw new AppError('invalid_credentials', 'Wrong username or password');
      await counters.release(reserved.map((r) => r.key));
      return found;
    },
  };
}
