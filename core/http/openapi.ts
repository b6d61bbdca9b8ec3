import { OpenAPIHono, z } from '@hono/zod-openapi';
import { statusOf, type ErrorCode, type StatusOf } from '../errors.ts';
import * as wire from '../schemas.ts';
import type { AppEnv } from './types.ts';
import { refuseInvalid } from './validation.ts';

/**
 * What every REST route is declared with: its zod request and response schemas, its error
 * answers and their codes. One declaration validates requests, types handlers and the
 * `hc<AppType>` client, and generates the OpenAPI document (`GET /api/openapi.json`).
 */

/** A router whose failed validations answer `400 invalid_request` with the issues. */
export const apiRouter = () => new OpenAPIHono<AppEnv>({ defaultHook: refuseInvalid });

/** The wire shapes under their contract names: the document's components. */
const named = {
  User: wire.User.openapi('User'),
  Room: wire.Room.openapi('Room'),
  Member: wire.Member.openapi('Member'),
  Message: wire.Message.openapi('Message'),
  Attachment: wire.Attachment.openapi('Attachment'),
};

/** Response bodies, built from the named shapes so the document refers to them. */
export const bodies = {
  user: z.object({ user: named.User }),
  token: wire.TokenBody.extend({ user: named.User }),
  room: z.object({ room: named.Room }),
  member: z.object({ member: named.Member }),
  members: z.object({ members: z.array(named.Member) }),
  history: wire.HistoryPage.extend({ messages: z.array(named.Message) }),
  search: wire.SearchPage.extend({ messages: z.array(named.Message) }),
  attachment: z.object({ attachment: named.Attachment }),
  uploadTarget: wire.UploadTarget.openapi('UploadTarget'),
};

/** What each code means, for the document (docs/api.md has the same table). */
const MEANING: Record<ErrorCode, string> = {
  invalid_request: 'malformed body or query, or unknown fields',
  unauthorized: 'missing, invalid, expired or revoked session',
  invalid_credentials: 'wrong username or password (one answer for both)',
  forbidden: 'a member without the right to do this',
  not_found: 'no such resource, or not a member of its room',
  conflict: 'a concurrent change; retry',
  username_taken: 'the username exists (case-insensitively)',
  payload_too_large: 'body over 64 KiB, or an upload over MAX_UPLOAD_BYTES',
  upload_mismatch: 'the stored object differs from the declared size or type',
  rate_limited: 'over a limit; retry after Retry-After seconds',
  internal: 'a bug, logged with the request id',
  unavailable: 'a dependency is unreachable; retry later',
  not_joined: 'socket only',
  attachment_invalid: 'socket only',
  reply_invalid: 'socket only',
};

const Issue = z.object({ path: z.string(), message: z.string() });

/** The error body, its `code` one of `codes` (all of them in the type, these in the document). */
const errorBody = (codes: ErrorCode[]) =>
  z
    .object({
      error: z.object({
        code: z.enum(codes as [ErrorCode, ...ErrorCode[]]),
        message: z.string(),
        issues: z.array(Issue).optional(),
      }),
    })
    .openapi({ description: codes.map((c) => `\`${c}\``).join(', ') });
type ErrorBodySchema = ReturnType<typeof errorBody>;

const RETRY_AFTER = {
  'Retry-After': {
    description: 'Whole seconds until the limit lets a request through',
    schema: { type: 'integer' as const },
  },
};

type ErrorResponse = {
  description: string;
  content: { 'application/json': { schema: ErrorBodySchema } };
};

/**
 * The error answers of a route, grouped by status. `internal` and `unavailable` can answer
 * any route and are always included.
 */
export function errors<const C extends ErrorCode>(...declared: C[]) {
  const codes = [...new Set<ErrorCode>([...declared, 'internal', 'unavailable'])];
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(statusOf(code), [...(byStatus.get(statusOf(code)) ?? []), code]);
  const responses: Record<number, ErrorResponse & { headers?: typeof RETRY_AFTER }> = {};
  for (const [status, list] of byStatus) {
    responses[status] = {
      description: list.map((c) => `\`${c}\`: ${MEANING[c]}`).join('; '),
      content: { 'application/json': { schema: errorBody(list) } },
      ...(status === 429 ? { headers: RETRY_AFTER } : {}),
    };
  }
  return responses as { [S in StatusOf<C | 'internal' | 'unavailable'>]: ErrorResponse };
}

/** A JSON response with its description. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

/** A required JSON request body (optional bodies skip validation when the type is not JSON). */
export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
});

/** The path parameter every room route takes (any string: a malformed id is simply not found). */
export const RoomParams = z.object({ roomId: z.string().openapi({ description: 'A room id (opaque)' }) });

/** Routes behind a session: the `sid` cookie (browsers) or a Bearer token (native clients). */
export const sessionSecurity: Record<string, string[]>[] = [{ cookie: [] }, { bearer: [] }];

/** Document-level settings: title, version and the two ways of presenting a session. */
export function registerDocumentComponents(app: OpenAPIHono<AppEnv>): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'cookie', {
    type: 'apiKey',
    in: 'cookie',
    name: 'sid',
    description: 'The session cookie set by register and login (browsers)',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'The same JWT, e.g. from POST /api/auth/token (native clients)',
  });
}

export const OPENAPI_PATH = '/api/openapi.json';

/** `GET /api/openapi.json` itself, so the document lists every REST route. */
export const documentRoute = {
  method: 'get' as const,
  path: OPENAPI_PATH,
  summary: 'This document',
  tags: ['meta'],
  responses: {
    200: json(z.looseObject({ openapi: z.literal('3.1.0') }), 'The OpenAPI 3.1 document of the REST API'),
  },
};

export const documentInfo = {
  openapi: '3.1.0',
  info: {
    title: 'Parley API',
    version: '1',
    description:
      'The REST half of the Parley contract (the Socket.IO events are described in docs/api.md). Errors are `{"error": {"code", "message", "issues"?}}`; checks run in the order authentication (401), request shape (400/413), membership (404).',
  },
};
