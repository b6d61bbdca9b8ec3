import type { EventBus } from '../redis/bus.ts';

/**
 * How long a "not revoked" answer is trusted: the bound on how long a logged-out token may
 * still be accepted by REST on a process that did not hear of the logout (docs/api.md).
 */
const REVOCATION_STALENESS_MS = 2_000;

/**
 * Which session tokens are revoked, cached so that a REST request does not cost a query for
 * it. A token's revocation is known at once by the process that revoked it (revokeSession)
 * and by every process that hears `session.revoked` on the bus (listenForRevocations); a
 * "not revoked" answer is re-checked in the database once it is older than
 * REVOCATION_STALENESS_MS, so a process that heard nothing (a Lambda instance, a lost bus
 * message) accepts a logged-out token for at most that long. A known revocation always wins
 * over a cached "not revoked", whatever order they arrive in.
 */
export class RevocationCache {
  /** jti → when it was last found not revoked. */
  private readonly clean = new Map<string, number>();
  /** jti → when the token expires anyway (ms); after that it fails verification on its own. */
  private readonly revoked = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(
    private readonly stalenessMs = REVOCATION_STALENESS_MS,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 100_000,
  ) {}

  /**
   * Whether `jti` (a token expiring at `expiresAtMs`) is revoked: from memory when known,
   * else by `lookup`, one at a time per jti.
   */
  async isRevoked(
    jti: string,
    expiresAtMs: number,
    lookup: (jti: string) => Promise<boolean>,
  ): Promise<boolean> {
    if (this.revoked.has(jti)) return true;
    const checked = this.clean.get(jti);
    if (checked !== undefined && this.now() - checked < this.stalenessMs) return false;
    let pending = this.inFlight.get(jti);
    if (!pending) {
      const startedAt = this.now();
      pending = lookup(jti).then(
        (isRevoked) => {
          this.inFlight.delete(jti);
          if (isRevoked) this.markRevoked(jti, expiresAtMs);
          else this.remember(this.clean, jti, startedAt);
          return isRevoked;
        },
        (err: unknown) => {
          this.inFlight.delete(jti);
          throw err;
        },
      );
      this.inFlight.set(jti, pending);
    }
    return (await pending) || this.revoked.has(jti);
  }

  /** A revocation heard of (this process's logout, or the bus): refused from now on. */
  markRevoked(jti: string, expiresAtMs: number): void {
    this.clean.delete(jti);
    this.remember(this.revoked, jti, expiresAtMs);
  }

  /** Bounded: expired revocations go first, then the oldest entries. */
  private remember(map: Map<string, number>, jti: string, value: number): void {
    map.delete(jti);
    map.set(jti, value);
    if (map.size <= this.maxEntries) return;
    if (map === this.revoked) {
      const now = this.now();
      for (const [k, exp] of map) if (exp < now) map.delete(k);
    }
    for (const k of map.keys()) {
      if (map.size <= this.maxEntries) break;
      // An evicted revocation is looked up again (and found) in the database: never lost.
      map.delete(k);
    }
  }
}

/** This process's cache, shared by every REST function it serves. */
export const revocations = new RevocationCache();

/**
 * Revocations published by other processes (`session.revoked`, core/redis/bus.ts) into
 * `cache`, so this process refuses a logged-out token as soon as the event arrives rather
 * than after REVOCATION_STALENESS_MS. Returns the unsubscribe function.
 */
export function listenForRevocations(bus: EventBus, cache: RevocationCache = revocations): () => void {
  return bus.subscribe((event) => {
    // The token is refused at verification once it expires; the bus event does not carry
    // the expiry, so the revocation is kept for as long as a session can live (pruned by size).
    if (event.type === 'session.revoked') cache.markRevoked(event.jti, Number.MAX_SAFE_INTEGER);
  });
}
