import { hc, type ClientResponse } from 'hono/client';
import type { SuccessStatusCode } from 'hono/utils/http-status';
import type {
  Attachment,
  HistoryPage,
  Member,
  Room,
  SearchPage,
  RoomListEntry,
  TokenBody,
  UploadTarget,
  User,
} from '../core/schemas.ts';
// Type-only: the server's route types, erased from any bundle (no server code ships to clients).
import type { AppType } from '../functions/index.ts';

/** Anything that answers a Request like fetch: `fetch` itself, or a Hono app's `request` in tests. */
export type FetchLike = (input: string, init?: RequestInit) => Response | Promise<Response>;

export interface RestOptions {
  /** Where the API lives, e.g. `https://chat.example.com` (a browser passes its own origin). */
  baseUrl: string;
  /** Defaults to the global fetch (browsers, Node 18+, React Native). */
  fetch?: FetchLike;
  /** A session token kept by the app (native clients): sent as `Authorization: Bearer`. */
  token?: string;
  /** Called when a request that needed a session is answered 401 (expired or revoked elsewhere). */
  onUnauthorized?: () => void;
}

/** A refused request: the contract's error code and message, and when to retry (429). */
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

/** What `request()` answers: status, parsed body (JSON, else text) and headers. */
export interface RawResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

type SuccessBody<R> =
  R extends ClientResponse<infer T, infer S, 'json'> ? (S extends SuccessStatusCode ? T : never) : never;

/** History cursors (at most one) and page size; see the contract's "Messages (history)". */
export interface HistoryCursor {
  beforeSeq?: number;
  afterSeq?: number;
  beforeTs?: number;
  /** Messages of any seq changed after this room version, ascending version. */
  changedAfter?: number;
  limit?: number;
}

/** Search options; see the contract's `GET /api/search` and docs/api.md. */
export interface SearchOptions {
  /** Only this room (404 when the caller is not a member). */
  roomId?: string;
  /** 1–50, default 20. */
  limit?: number;
  /** The previous page's `nextCursor`. */
  cursor?: string;
}

/**
 * The REST half of the contract, typed from the server's own route declarations through
 * Hono's client (`hc<AppType>`). It holds the session however the platform allows: in a
 * browser the httpOnly `sid` cookie rides along by itself; elsewhere (Node, tests) the
 * cookie a response sets is kept and sent back; a native app keeps a token (from
 * `auth.token()`) and sends it as Bearer.
 */
export class RestClient {
  /** The typed Hono client of every route, for anything the methods below do not cover. */
  readonly api: ReturnType<typeof hc<AppType>>;
  /** The Bearer token in use, if any (set by `auth.token()` or the `token` option). */
  token: string | undefined;
  /** `sid=<jwt>` when a response set the session cookie where scripts can read it (not in browsers). */
  cookie: string | undefined;
  /** The user of the session, once known. */
  user: User | undefined;

  /** The API's origin, without a trailing slash. */
  readonly baseUrl: string;
  private readonly fetchImpl: FetchLike;
  private readonly onUnauthorized: () => void;

  constructor(options: RestOptions) {
    this.baseUrl = options.baseUrl.replace(/\/$/, '');
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.token = options.token;
    this.onUnauthorized = options.onUnauthorized ?? (() => undefined);
    this.api = hc<AppType>(this.baseUrl, {
      fetch: (input: RequestInfo | URL, init?: RequestInit) => this.send(String(input), init),
    });
  }

  /** The raw JWT of this session as a native client would keep it (token, or the cookie's value). */
  get jwt(): string | undefined {
    return this.token ?? this.cookie?.slice('sid='.length);
  }

  readonly auth = {
    register: async (username: string, password: string): Promise<User> =>
      this.remember(
        (await this.ok(this.api.api.auth.register.$post({ json: { username, password } }), true)).user,
      ),
    login: async (username: string, password: string): Promise<User> =>
      this.remember(
        (await this.ok(this.api.api.auth.login.$post({ json: { username, password } }), true)).user,
      ),
    /** A session for clients that keep their own credentials: no cookie, the token is kept and sent as Bearer. */
    token: async (username: string, password: string): Promise<TokenBody> => {
      const body = await this.ok(this.api.api.auth.token.$post({ json: { username, password } }), true);
      this.token = body.token;
      this.remember(body.user);
      return body;
    },
    /** Revokes the session (cookie or token) on every instance; never fails for a dead session. */
    logout: async (): Promise<void> => {
      await this.ok(this.api.api.auth.logout.$post(), true);
      this.token = undefined;
      this.cookie = undefined;
      this.user = undefined;
    },
    me: async (): Promise<User> => this.remember((await this.ok(this.api.api.auth.me.$get(), true)).user),
  };

  readonly rooms = {
    /** The caller's rooms with read state (`lastReadSeq`, `unread`, `lastMessage`), newest activity first. */
    list: async (): Promise<RoomListEntry[]> => (await this.ok(this.api.api.rooms.$get())).rooms,
    create: async (name: string): Promise<Room> =>
      (await this.ok(this.api.api.rooms.$post({ json: { name } }))).room,
    get: async (roomId: string): Promise<Room> =>
      (await this.ok(this.api.api.rooms[':roomId'].$get({ param: { roomId } }))).room,
    members: async (roomId: string): Promise<Member[]> =>
      (await this.ok(this.api.api.rooms[':roomId'].members.$get({ param: { roomId } }))).members,
    /** Adds a user by username; `created` is false when they were a member already. */
    addMember: async (roomId: string, username: string): Promise<{ member: Member; created: boolean }> => {
      const res = await this.api.api.rooms[':roomId'].members.$post({
        param: { roomId },
        json: { username },
      });
      const { member } = await this.ok(res);
      return { member, created: res.status === 201 };
    },
    leave: async (roomId: string): Promise<void> => {
      await this.ok(this.api.api.rooms[':roomId'].members.me.$delete({ param: { roomId } }));
    },
    /** Renames the room (its owner only; not a direct room). */
    rename: async (roomId: string, name: string): Promise<Room> =>
      (await this.ok(this.api.api.rooms[':roomId'].$patch({ param: { roomId }, json: { name } }))).room,
    /** The owner removes a member; their sockets leave the room at once. */
    removeMember: async (roomId: string, userId: string): Promise<void> => {
      await this.ok(this.api.api.rooms[':roomId'].members[':userId'].$delete({ param: { roomId, userId } }));
    },
    /** The direct room with a user (created the first time, the same room afterwards). */
    direct: async (username: string): Promise<{ room: Room; created: boolean }> => {
      const res = await this.api.api.rooms.direct.$post({ json: { username } });
      const { room } = await this.ok(res);
      return { room, created: res.status === 201 };
    },
  };

  readonly messages = {
    /** A page of history, ascending by seq (the newest page without a cursor). */
    history: async (roomId: string, cursor: HistoryCursor = {}): Promise<HistoryPage> => {
      const query: Record<string, string> = {};
      for (const [k, v] of Object.entries(cursor)) if (v !== undefined) query[k] = String(v);
      return this.ok(this.api.api.messages.$get({ query: { ...query, roomId } }));
    },
  };

  /**
   * Messages of the caller's rooms matching every word of `q` (the last as a prefix), newest
   * first; pass the answer's `nextCursor` back as `cursor` for the next page (null: no more).
   */
  async search(q: string, options: SearchOptions = {}): Promise<SearchPage> {
    const query: { q: string; roomId?: string; limit?: string; cursor?: string } = { q };
    if (options.roomId !== undefined) query.roomId = options.roomId;
    if (options.limit !== undefined) query.limit = String(options.limit);
    if (options.cursor !== undefined) query.cursor = options.cursor;
    return this.ok(this.api.api.search.$get({ query }));
  }

  readonly uploads = {
    init: async (body: {
      roomId: string;
      filename: string;
      mime: string;
      bytes: number;
    }): Promise<UploadTarget> => this.ok(this.api.api.upload.init.$post({ json: body })),
    complete: async (roomId: string, key: string): Promise<Attachment> =>
      (await this.ok(this.api.api.upload.complete.$post({ json: { roomId, key } }))).attachment,
  };

  /**
   * Any request, answered raw (nothing thrown for an error status): for routes and bodies the
   * typed methods do not cover, such as a deliberately malformed body.
   */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<RawResponse<T>> {
    const h: Record<string, string> = { ...headers };
    if (body !== undefined) h['content-type'] ??= 'application/json';
    const res = await this.send(`${this.baseUrl}${path}`, {
      method,
      headers: h,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  /** Every request goes out here: the session added, a session cookie set in the answer kept. */
  private async send(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookie && !headers.has('cookie')) headers.set('cookie', this.cookie);
    if (this.token && !headers.has('authorization')) headers.set('authorization', `Bearer ${this.token}`);
    // A plain object, so a wrapping fetch can spread it.
    const res = await this.fetchImpl(url, {
      ...init,
      headers: Object.fromEntries(headers),
      credentials: 'include',
    });
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) {
      const m = /(?:^|,\s*)sid=([^;]*)/.exec(setCookie);
      if (m) this.cookie = m[1] ? `sid=${m[1]}` : undefined;
    }
    return res;
  }

  private remember(user: User): User {
    this.user = user;
    return user;
  }

  /** The success body of a typed call; an error status (or no answer) becomes an ApiError. */
  private async ok<R extends ClientResponse<unknown, number, 'json'>>(
    call: R | Promise<R>,
    quiet401 = false,
  ): Promise<SuccessBody<R>> {
    let res: R;
    try {
      res = await call;
    } catch {
      throw networkError();
    }
    if (res.ok) return (res.status === 204 ? undefined : await res.json()) as SuccessBody<R>;
    const data: unknown = await res.json().catch(() => undefined);
    throw this.failure(res.status, data, res.headers, quiet401);
  }

  /** The ApiError of an error answer (and the 401 callback, unless `quiet401`). */
  private failure(status: number, data: unknown, headers: Headers, quiet401 = false): ApiError {
    const err = (data as { error?: { code?: string; message?: string; issues?: unknown } } | undefined)
      ?.error;
    const retryAfter = Number(headers.get('retry-after'));
    if (status === 401 && !quiet401) this.onUnauthorized();
    return new ApiError(
      status,
      err?.code ?? 'internal',
      err?.message ?? `Request failed (${status})`,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
      Array.isArray(err?.issues) ? (err.issues as { path?: unknown; message?: string }[]) : [],
    );
  }
}

function networkError(): ApiError {
  return new ApiError(0, 'network', 'The server could not be reached. Check your connection and try again.');
}
