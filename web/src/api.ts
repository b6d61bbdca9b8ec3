import type { Attachment, HistoryPage, Member, Room, User } from '../../core/schemas.ts';

/**
 * The REST half of the contract. Same-origin requests carry the httpOnly `sid` cookie on
 * their own; the client never sees or stores the token.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
    readonly issues: { path?: unknown; message?: string }[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Where the API lives: the page's own origin unless the static build was told otherwise. */
export const apiBase: string = (
  document.querySelector<HTMLMetaElement>('meta[name="parley-api"]')?.content ?? ''
).replace(/\/$/, '');

let onUnauthorized: () => void = () => undefined;
/** Called when a request that needed a session gets 401 (expired or revoked elsewhere). */
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  { quiet401 = false } = {},
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${apiBase}${path}`, {
      method,
      credentials: 'include',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'The server could not be reached. Check your connection and try again.');
  }
  if (res.status === 204) return undefined as T;
  const data: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string; issues?: unknown } } | undefined)
      ?.error;
    const retryAfter = Number(res.headers.get('retry-after'));
    const apiError = new ApiError(
      res.status,
      err?.code ?? 'internal',
      err?.message ?? `Request failed (${res.status})`,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
      Array.isArray(err?.issues) ? (err.issues as { path?: unknown; message?: string }[]) : [],
    );
    if (res.status === 401 && !quiet401) onUnauthorized();
    throw apiError;
  }
  return data as T;
}

export const api = {
  me: () => request<{ user: User }>('GET', '/api/auth/me', undefined, { quiet401: true }),
  register: (username: string, password: string) =>
    request<{ user: User }>('POST', '/api/auth/register', { username, password }, { quiet401: true }),
  login: (username: string, password: string) =>
    request<{ user: User }>('POST', '/api/auth/login', { username, password }, { quiet401: true }),
  logout: () => request<void>('POST', '/api/auth/logout', undefined, { quiet401: true }),

  rooms: () => request<{ rooms: Room[] }>('GET', '/api/rooms'),
  createRoom: (name: string) => request<{ room: Room }>('POST', '/api/rooms', { name }),
  members: (roomId: string) =>
    request<{ members: Member[] }>('GET', `/api/rooms/${encodeURIComponent(roomId)}/members`),
  addMember: (roomId: string, username: string) =>
    request<{ member: Member }>('POST', `/api/rooms/${encodeURIComponent(roomId)}/members`, { username }),
  leaveRoom: (roomId: string) =>
    request<void>('DELETE', `/api/rooms/${encodeURIComponent(roomId)}/members/me`),

  history: (roomId: string, cursor: { beforeSeq?: number; afterSeq?: number }, limit = 50) => {
    const q = new URLSearchParams({ roomId, limit: String(limit) });
    if (cursor.beforeSeq !== undefined) q.set('beforeSeq', String(cursor.beforeSeq));
    if (cursor.afterSeq !== undefined) q.set('afterSeq', String(cursor.afterSeq));
    return request<HistoryPage>('GET', `/api/messages?${q.toString()}`);
  },

  uploadInit: (body: { roomId: string; filename: string; mime: string; bytes: number }) =>
    request<UploadTarget>('POST', '/api/upload/init', body),
  uploadComplete: (roomId: string, key: string) =>
    request<{ attachment: Attachment }>('POST', '/api/upload/complete', { roomId, key }),
};

export type UploadTarget =
  | { key: string; method: 'POST'; url: string; fields: Record<string, string>; expiresAt: number }
  | { key: string; method: 'PUT'; url: string; headers: Record<string, string>; expiresAt: number };
