import type { Context } from 'hono';
import type { Session } from '../sessions/sessions.ts';
import type { Logger } from '../logger.ts';

/** Variables every Parley HTTP handler can read from its context. */
export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
    session: Session;
    clientAddress: string;
  };
}

export type AppContext = Context<AppEnv>;
