import type { Config } from '../config.ts';
import type { CounterStore, LimitedHit } from '../redis/counters.ts';
import { rateLimited } from '../errors.ts';
import { rateLimitRefusals } from '../metrics.ts';

export interface LookupCaller {
  userId: string;
  /** The client address the request came from (see core/http/client-address.ts). */
  address: string;
}

export type LookupLimits = Pick<Config['limits'], 'unknownUsernameLookups' | 'usernameLookupsPerAddress'>;

/**
 * Routes that find a user by username for the caller (add a member; open a direct room)
 * answer differently for real and unknown names, so they are an oracle unless throttled:
 * per caller, lookups of unknown usernames; per client address, every lookup. Both units
 * are reserved before the lookup (a concurrent burst cannot slip past), the caller's is
 * given back when the name exists. Over a limit: `429 rate_limited`, for real names too.
 */
export function usernameLookupThrottle(
  counters: CounterStore,
  limits: LookupLimits,
  event = 'username_lookup',
) {
  return {
    async lookup<T>(caller: LookupCaller, find: () => Promise<T | null>): Promise<T | null> {
      const unknownKey = `lookup:unknown:${caller.userId}`;
      const rules: LimitedHit[] = [
        { key: unknownKey, ...limits.unknownUsernameLookups },
        { key: `lookup:addr:${caller.address}`, ...limits.usernameLookupsPerAddress },
      ];
      const check = await counters.reserve(rules);
      if (!check.allowed) {
        rateLimitRefusals.inc({ event });
        throw rateLimited(check.retryAfterMs);
      }
      let found: T | null;
      try {
        found = await find();
      } catch (err) {
        await counters.release(rules.map((r) => r.key)).catch(() => undefined);
        throw err;
      }
      if (found !== null) await counters.release([unknownKey]);
      return found;
    },
  };
}
