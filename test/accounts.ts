import { RestClient, type FetchLike, type RawResponse } from '../client/rest.ts';
import type { Member, Message, Room, User } from '../core/schemas.ts';

/**
 * A user of the tests: the client library's REST client plus the credentials it registers
 * and logs in with, and the calls tests make with their raw answers (`alice.login()` →
 * status, body, headers). `target` is a server URL, or a fetch-like (`app.request`).
 */
export class TestAccount extends RestClient {
  constructor(
    target: string | FetchLike,
    readonly username?: string,
    readonly password = 'correct horse battery',
  ) {
    super(typeof target === 'string' ? { baseUrl: target } : { baseUrl: 'http://localhost', fetch: target });
  }

  async register(): Promise<User> {
    const res = await this.request<{ user: User }>('POST', '/api/auth/register', {
      username: this.username,
      password: this.password,
    });
    if (res.status !== 201)
      throw new Error(`register ${this.username}: ${res.status} ${JSON.stringify(res.body)}`);
    this.user = res.body.user;
    return this.user;
  }

  login(password = this.password): Promise<RawResponse<{ user: User }>> {
    return this.request('POST', '/api/auth/login', { username: this.username, password });
  }

  async createRoom(name = 'room'): Promise<Room> {
    return this.rooms.create(name);
  }

  addMember(roomId: string, username: string): Promise<RawResponse<{ member: Member }>> {
    return this.request('POST', `/api/rooms/${encodeURIComponent(roomId)}/members`, { username });
  }

  history(
    query: Record<string, string | number>,
  ): Promise<RawResponse<{ messages: Message[]; hasMore: boolean }>> {
    const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
    return this.request('GET', `/api/messages?${qs}`);
  }
}
export type { FetchLike, RawResponse } from '../client/rest.ts';
