import type { Member, Message, Room, User } from '../core/schemas.ts';

/** Anything that answers a Request: `app.request` or `fetch` against a listening server. */
export type Transport = (path: string, init?: RequestInit) => Promise<Response> | Response;

export const overHttp =
  (baseUrl: string): Transport =>
  (path, init) =>
    fetch(new URL(path, baseUrl), init);

export interface ApiResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * A REST client that reads like the domain (`alice.createRoom('general')`) and keeps its
 * session cookie like a browser, or sends a bearer token like a native client.
 */
export class ApiClient {
  cookie: string | undefined;
  token: string | undefined;
  user: User | undefined;

  constructor(
    private readonly transport: Transport,
    readonly username?: string,
    readonly password = 'correct horse battery',
  ) {}

  async request<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const h: Record<string, string> = { ...headers };
    if (body !== undefined) h['content-type'] ??= 'application/json';
    if (this.cookie && !h.cookie) h.cookie = this.cookie;
    if (this.token && !h.authorization) h.authorization = `Bearer ${this.token}`;
    const res = await this.transport(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) {
      const m = /(?:^|,\s*)sid=([^;]*)/.exec(setCookie);
      if (m) this.cookie = m[1] ? `sid=${m[1]}` : undefined;
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  /** The raw JWT held in the cookie (what a native client would keep). */
  get jwt(): string | undefined {
    return this.cookie?.slice('sid='.length);
  }

  async register(): Promise<User> {
    const res = await this.request<{ user: User }>('POST', '/api/auth/register', {
      username: this.username,
      password: this.password,
    });
    if (res.status !== 201) throw new Error(`register ${this.username}: ${res.status} ${JSON.stringify(res.body)}`);
    this.user = res.body.user;
    return this.user;
  }

  async login(password = this.password): Promise<ApiResponse<{ user: User }>> {
    return this.request('POST', '/api/auth/login', { username: this.username, password });
  }

  async createRoom(name = 'room'): Promise<Room> {
    const res = await this.request<{ room: Room }>('POST', '/api/rooms', { name });
    if (res.status !== 201) throw new Error(`createRoom: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.room;
  }

  async addMember(roomId: string, username: string): Promise<ApiResponse<{ member: Member }>> {
    return this.request('POST', `/api/rooms/${encodeURIComponent(roomId)}/members`, { username });
  }

  async history(query: Record<string, string | number>): Promise<ApiResponse<{ messages: Message[]; hasMore: boolean }>> {
    const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
    return this.request('GET', `/api/messages?${qs}`);
  }
}
