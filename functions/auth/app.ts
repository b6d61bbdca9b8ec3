import { loginThrottle } from '../../core/sessions/login-throttle.ts';
import type { Session } from '../../core/sessions/sessions.ts';
import { issueToken, revokeSession, verifySession } from '../../core/sessions/sessions.ts';
import { consume } from '../../core/redis/counters.ts';
import { AppError, rateLimited } from '../../core/errors.ts';
import { limitBody } from '../../core/http/app.ts';
import {
  clearSessionCookie,
  requestToken,
  requireSession,
  setSessionCookie,
} from '../../core/http/session.ts';
import type { AppContext } from '../../core/http/types.ts';
import { apiRouter } from '../../core/http/openapi.ts';
import { rateLimitRefusals } from '../../core/metrics.ts';
import type { LoginBody } from '../../core/schemas.ts';
import type { Services } from '../../core/services.ts';
import { authenticate, findUserById, registerUser } from '../../core/users/users.ts';
import * as routes from './routes.ts';

export type AuthDeps = Pick<Services, 'config' | 'db' | 'counters' | 'bus' | 'logger'>;

const HOUR_MS = 3_600_000;

/** /api/auth: register, login (cookie), token (no cookie), logout, me. */
export function authRoutes(deps: AuthDeps) {
  const { config, db, counters, bus } = deps;
  const keys = config.auth;
  const limits = config.limits;

  const startSession = async (c: AppContext, user: { id: string; username: string }) => {
    const { token } = await issueToken(keys, user);
    setSessionCookie(c, token, keys.sessionTtlSeconds, keys.cookieSecure);
  };

  const throttle = loginThrottle(counters, limits);

  /** The one login path of `/login` and `/token`: throttle, then verify the password. */
  // Throttled users are refused before the password is looked at, even a right one.
  const logIn = (c: AppContext, { username, password }: LoginBody) =>
    throttle.guard({ address: c.get('clientAddress'), username }, () => authenticate(db, username, password));

  return (
    apiRouter()
      .openapi({ ...routes.register, middleware: limitBody }, async (c) => {
        const check = await consume(counters, [
          {
            key: `register:addr:${c.get('clientAddress')}`,
            windowMs: HOUR_MS,
            limit: limits.registerPerHour,
          },
        ]);
        if (!check.allowed) {
          rateLimitRefusals.inc({ event: 'register' });
          throw rateLimited(check.retryAfterMs);
        }
        const { username, password } = c.req.valid('json');
        const user = await registerUser(db, username, password);
        await startSession(c, user);
        return c.json({ user }, 201);
      })
      .openapi({ ...routes.login, middleware: limitBody }, async (c) => {
        const user = await logIn(c, c.req.valid('json'));
        await startSession(c, user);
        return c.json({ user }, 200);
      })
      // Native clients keep the token themselves: the same login, answered with the token and no cookie.
      .openapi({ ...routes.token, middleware: limitBody }, async (c) => {
        const user = await logIn(c, c.req.valid('json'));
        const { token, session } = await issueToken(keys, user);
        return c.json({ user, token, expiresAt: session.exp * 1000 }, 200);
      })
      .openapi(routes.logout, async (c) => {
        let session: Session | undefined;
        try {
          session = await verifySession(keys, db, requestToken(c));
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
        }
        if (session) {
          await revokeSession(db, session);
          // Sockets opened with this token close on every instance; the revocation row
          // already refuses the token everywhere if this event is lost.
          await bus
            .publish({ type: 'session.revoked', jti: session.jti, userId: session.userId })
            .catch((err: unknown) => c.get('log').error({ err }, 'could not publish session revocation'));
        }
        clearSessionCookie(c, keys.cookieSecure);
        return c.body(null, 204);
      })
      .openapi({ ...routes.me, middleware: requireSession(keys, db) }, async (c) => {
        const user = await findUserById(db, c.get('session').userId);
        if (!user) throw new AppError('unauthorized', 'Authentication required');
        return c.json({ user }, 200);
      })
  );
}
