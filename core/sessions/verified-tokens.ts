import type { Session } from './sessions.ts';

/**
 * Tokens whose signature and claims this process has already verified, so that a client's
 * every request does not pay for an HMAC (WebCrypto's key import and verify: most of a
 * history page's CPU here, see docs/performance.md). Sound because a token is immutable: the
 * same string under the same secret verifies the same way forever, except for its expiry,
 * which is checked on every hit exactly as hono/jwt checks it. Revocation is not cached here
 * (revocations.ts decides it on every request). Bounded: the oldest entries go first.
 */
export class VerifiedTokens {
  /** secret → token → the session it verified as. */
  private readonly bySecret = new Map<string, Map<string, Session>>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
    /** Longer tokens are verified every time (they are not ours; keeps the cache's size bounded). */
    private readonly maxTokenLength = 2_048,
  ) {}

  /** The session of a token verified before under `secret`, unless it has expired since. */
  get(secret: string, token: string): Session | undefined {
    const tokens = this.bySecret.get(secret);
    const session = tokens?.get(token);
    if (!session) return undefined;
    // hono/jwt refuses a token whose `exp` is at or before the current whole second.
    if (session.exp <= Math.floor(this.now() / 1000)) {
      tokens!.delete(token);
      return undefined;
    }
    return session;
  }

  remember(secret: string, token: string, session: Session): void {
    if (token.length > this.maxTokenLength) return;
    let tokens = this.bySecret.get(secret);
    if (!tokens) this.bySecret.set(secret, (tokens = new Map()));
    tokens.set(token, session);
    if (tokens.size > this.maxEntries) tokens.delete(tokens.keys().next().value as string);
  }
}

/** This process's verified tokens, shared by REST and the realtime handshake. */
export const verifiedTokens = new VerifiedTokens();
