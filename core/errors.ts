/** The stable error codes of the wire contract. */
export type ErrorCode =
  | 'invalid_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'payload_too_large'
  | 'unavailable'
  | 'internal'
  | 'username_taken'
  | 'invalid_credentials'
  | 'upload_mismatch'
  | 'not_joined'
  | 'attachment_invalid'
  | 'reply_invalid';

const STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  invalid_credentials: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  username_taken: 409,
  payload_too_large: 413,
  upload_mismatch: 422,
  not_joined: 409,
  attachment_invalid: 422,
  reply_invalid: 422,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const satisfies Record<ErrorCode, number>;

/** The HTTP status of a code (a literal type, so typed route declarations can group by it). */
export type StatusOf<C extends ErrorCode> = (typeof STATUS)[C];
export const statusOf = <C extends ErrorCode>(code: C): StatusOf<C> => STATUS[code];

export interface ErrorIssue {
  path: string;
  message: string;
}

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  issues?: ErrorIssue[];
  retryAfterMs?: number;
}

/** An error whose code and message are safe to show to a client. */
export class AppError extends Error {
  readonly status: StatusOf<ErrorCode>;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { issues?: ErrorIssue[]; retryAfterMs?: number } = {},
  ) {
    super(message);
    this.name = 'AppError';
    this.status = STATUS[code];
  }

  toBody(): ErrorBody {
    return {
      code: this.code,
      message: this.message,
      ...(this.details.issues ? { issues: this.details.issues } : {}),
      ...(this.details.retryAfterMs !== undefined ? { retryAfterMs: this.details.retryAfterMs } : {}),
    };
  }
}

export const notFound = (what = 'Not found') => new AppError('not_found', what);
export const invalid = (message: string, issues?: ErrorIssue[]) =>
  new AppError('invalid_request', message, issues ? { issues } : {});
export const rateLimited = (retryAfterMs: number) =>
  new AppError('rate_limited', 'Too many requests, slow down', {
    retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)),
  });

/**
 * Whether an error means the database cannot be reached right now (connection refused or
 * lost, pool timeout, shutting down): answered as `unavailable`, never as `internal`.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const seen = new Set<unknown>();
  let cur: unknown = err;
  while (cur && typeof cur === 'object' && !seen.has(cur)) {
    seen.add(cur);
    const e = cur as { code?: unknown; message?: unknown; cause?: unknown; name?: unknown };
    const code = typeof e.code === 'string' ? e.code : '';
    const message = typeof e.message === 'string' ? e.message : '';
    if (
      [
        'ECONNREFUSED',
        'ECONNRESET',
        'ETIMEDOUT',
        'EPIPE',
        'ENOTFOUND',
        'P1001',
        'P1002',
        'P1017',
        'P2024',
      ].includes(code)
    )
      return true;
    if (/^(08|57P0)/.test(code)) return true; // connection_exception, admin/crash shutdown
    // "Unable to start a transaction in the given time" (P2028): every pooled connection is taken or stuck.
    if (
      /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|Can't reach database|DatabaseNotReachable|ConnectionClosed|the database system is (starting|shutting) up|Unable to start a transaction in the given time|Query read timeout/i.test(
        message,
      )
    )
      return true;
    cur = e.cause;
  }
  return false;
}

/** Reduces any error to what a client may see: AppErrors as they are, everything else `internal` or `unavailable`. */
export function toPublicError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isDatabaseUnavailable(err))
    return new AppError('unavailable', 'Service temporarily unavailable, try again');
  return new AppError('internal', 'Internal error');
}
