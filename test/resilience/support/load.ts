import { io as connectClient, type Socket } from 'socket.io-client';
import { loadConfig } from '../../../core/config.ts';
import { issueToken } from '../../../core/sessions/sessions.ts';
import { openDatabase, type Database } from '../../../core/db/database.ts';
import type { Message } from '../../../core/schemas.ts';
import { addMember, createRoom } from '../../../core/rooms/rooms.ts';
import { registerUser } from '../../../core/users/users.ts';
import { JWT_SECRET } from './server-process.ts';

/**
 * Clients that behave like a well-written app under faults: they send with a clientMsgId and
 * retry it until acked, move to another instance when theirs dies, and catch up by seq.
 * They record everything, so a test can compare what was acked and received to the database.
 */

export interface Seeded {
  db: Database;
  users: { id: string; name: string; token: string }[];
  roomIds: string[];
  close(): Promise<void>;
}

/** Users and rooms written straight into the scratch database (migrating it if needed). */
export async function seed(
  databaseUrl: string,
  users: number,
  rooms: number,
  prefix: string,
): Promise<Seeded> {
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    JWT_SECRET,
    DATA_DIR: ':memory:',
    DATABASE_POOL_MAX: '4',
  });
  const db = await openDatabase(config);
  const made: Seeded['users'] = [];
  for (let i = 0; i < users; i++) {
    const u = await registerUser(db, `${prefix}_${i}`, 'a long enough password');
    const { token } = await issueToken(config.auth, u);
    made.push({ id: u.id, name: u.username, token });
  }
  const roomIds: string[] = [];
  for (let r = 0; r < rooms; r++) {
    const room = await createRoom(db, made[0]!.id, `${prefix} room ${r}`);
    for (const u of made.slice(1)) await addMember(db, room.id, made[0]!.id, u.name);
    roomIds.push(room.id);
  }
  return { db, users: made, roomIds, close: () => db.close() };
}

type AckShape =
  | {
      ok: true;
      message?: Message;
      messages?: Message[];
      hasMore?: boolean;
      changes?: Message[];
      hasMoreChanges?: boolean;
      room?: { lastVersion?: number };
    }
  | { ok: false; error: { code: string } };

/** An edit or reaction a client keeps retrying until acked (both are idempotent). */
interface PendingChange {
  event: 'edit' | 'react';
  seq: number;
  payload: Record<string, unknown>;
}

export interface ClientStats {
  acked: Map<string, number>;
  /** clientMsgIds whose send got an `unavailable` (or no) answer at least once, then retried. */
  retried: Set<string>;
  errors: Map<string, number>;
  reconnectMs: number[];
  liveDuplicates: number;
  /** Edits and reactions acked by the server: each must be in the database. */
  ackedChanges: { event: 'edit' | 'react'; seq: number; text?: string; emoji?: string; version: number }[];
}

export class LoadClient {
  socket: Socket | undefined;
  readonly seen = new Map<number, Message>();
  readonly stats: ClientStats = {
    acked: new Map(),
    retried: new Set(),
    errors: new Map(),
    reconnectMs: [],
    liveDuplicates: 0,
    ackedChanges: [],
  };
  /** Every `changeEvery`-th acked message is then edited and reacted to by its sender (0: never). */
  changeEvery = 0;
  private readonly changes: PendingChange[] = [];
  /** Every change up to this room version is held: the `sinceVersion` of the next catch-up. */
  private syncedVersion = 0;
  private counter = 0;
  private failures = 0;
  private pending: string | undefined;
  private stopped = false;
  private sending: Promise<void> | undefined;
  private reconnecting: Promise<void> | undefined;
  private liveThisConnection = new Set<number>();
  /** Which instance this client is on (index into urls). */
  at = 0;

  constructor(
    readonly name: string,
    readonly token: string,
    readonly roomId: string,
    readonly urls: string[],
    start: number,
  ) {
    this.at = start % urls.length;
  }

  private error(code: string): void {
    this.stats.errors.set(code, (this.stats.errors.get(code) ?? 0) + 1);
  }

  /** The highest seq up to which this client holds every message. */
  contiguous(): number {
    let s = 0;
    while (this.seen.has(s + 1)) s++;
    return s;
  }

  private async open(url: string): Promise<Socket> {
    const socket = connectClient(url, {
      transports: ['websocket'],
      auth: { token: this.token },
      reconnection: false,
      forceNew: true,
      timeout: 3_000,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', (err) => {
        socket.close();
        reject(err);
      });
    });
    return socket;
  }

  /** Connects (to its instance, else the next one) and joins with catch-up from what it holds. */
  async connect(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const url = this.urls[this.at]!;
      try {
        const socket = await this.open(url);
        this.liveThisConnection = new Set();
        socket.on('message', (m: Message) => {
          if (m.roomId !== this.roomId) return;
          if (this.liveThisConnection.has(m.seq)) this.stats.liveDuplicates++;
          this.liveThisConnection.add(m.seq);
          this.hold(m);
        });
        socket.on('message_updated', (m: Message) => {
          if (m.roomId === this.roomId) this.hold(m);
        });
        socket.on('disconnect', () => {
          if (this.socket === socket && !this.stopped) void this.reconnect();
        });
        this.socket = socket;
        await this.catchUp();
        return;
      } catch {
        this.at = (this.at + 1) % this.urls.length;
        if (this.stopped && attempt > 3) throw new Error(`${this.name}: cannot connect`);
        await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** Math.min(attempt, 4), 500)));
      }
    }
  }

  /** Keeps the latest state of each message: a change never goes back to an older version. */
  private hold(m: Message): void {
    const held = this.seen.get(m.seq);
    if (!held || (held.version ?? 0) <= (m.version ?? 0)) this.seen.set(m.seq, m);
  }

  /** join with sinceSeq and sinceVersion until nothing more is missing, new messages or changes. */
  async catchUp(): Promise<void> {
    let sinceVersion = this.syncedVersion;
    for (let round = 0; round < 1000; round++) {
      const socket = this.socket;
      if (!socket?.connected) throw new Error('not connected');
      const ack = (await socket
        .timeout(5_000)
        .emitWithAck('join', { roomId: this.roomId, sinceSeq: this.contiguous(), sinceVersion })) as AckShape;
      if (!ack.ok) throw new Error(`${this.name} join: ${ack.error.code}`);
      for (const m of [...(ack.messages ?? []), ...(ack.changes ?? [])]) this.hold(m);
      if (ack.hasMoreChanges) {
        sinceVersion = ack.changes!.at(-1)!.version;
        continue;
      }
      if (!ack.hasMore) {
        this.syncedVersion = Math.max(this.syncedVersion, ack.room?.lastVersion ?? 0);
        return;
      }
    }
  }

  private reconnect(): Promise<void> {
    this.reconnecting ??= (async () => {
      const lost = Date.now();
      this.socket = undefined;
      this.at = (this.at + 1) % this.urls.length;
      for (;;) {
        try {
          await this.connect();
          break;
        } catch {
          if (this.stopped) return;
        }
      }
      this.stats.reconnectMs.push(Date.now() - lost);
    })().finally(() => {
      this.reconnecting = undefined;
    });
    return this.reconnecting;
  }

  /** Sends one message (or retries the pending one, or a pending change) and waits for its ack. */
  private async sendOne(): Promise<void> {
    if (this.changes.length > 0 && !this.pending) return this.changeOne();
    const clientMsgId = (this.pending ??= `${this.name}-${++this.counter}`);
    const socket = this.socket;
    if (!socket?.connected) {
      await this.reconnecting;
      return;
    }
    let ack: AckShape;
    try {
      ack = (await socket
        .timeout(8_000)
        .emitWithAck('message', { roomId: this.roomId, text: `m ${clientMsgId}`, clientMsgId })) as AckShape;
    } catch {
      this.error('no_ack');
      this.stats.retried.add(clientMsgId);
      return;
    }
    if (ack.ok) {
      const prev = this.stats.acked.get(clientMsgId);
      if (prev !== undefined && prev !== ack.message!.seq) this.error('ack_seq_changed');
      this.stats.acked.set(clientMsgId, ack.message!.seq);
      this.hold(ack.message!);
      this.pending = undefined;
      if (this.changeEvery > 0 && this.counter % this.changeEvery === 0) {
        const { id: messageId, seq } = ack.message!;
        this.changes.push(
          { event: 'edit', seq, payload: { roomId: this.roomId, messageId, text: `edited ${clientMsgId}` } },
          { event: 'react', seq, payload: { roomId: this.roomId, messageId, emoji: '👍', on: true } },
        );
      }
    } else {
      this.error(ack.error.code);
      this.stats.retried.add(clientMsgId);
      if (ack.error.code === 'not_joined') await this.catchUp().catch(() => undefined);
      // A polite client: the server's retryAfterMs when limited, else a growing back-off.
      const wait =
        ack.error.code === 'rate_limited'
          ? ((ack.error as { retryAfterMs?: number }).retryAfterMs ?? 1_000)
          : Math.min(100 * 2 ** this.failures, 2_000);
      this.failures++;
      await new Promise((r) => setTimeout(r, wait));
      return;
    }
    this.failures = 0;
  }

  /** Sends the oldest pending edit or reaction, retried until acked (both are idempotent). */
  private async changeOne(): Promise<void> {
    const change = this.changes[0]!;
    const socket = this.socket;
    if (!socket?.connected) {
      await this.reconnecting;
      return;
    }
    let ack: AckShape;
    try {
      ack = (await socket.timeout(8_000).emitWithAck(change.event, change.payload)) as AckShape;
    } catch {
      this.error('no_ack');
      return;
    }
    if (!ack.ok) {
      this.error(ack.error.code);
      if (ack.error.code === 'not_joined') await this.catchUp().catch(() => undefined);
      await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** this.failures++, 2_000)));
      return;
    }
    this.failures = 0;
    this.changes.shift();
    this.hold(ack.message!);
    this.stats.ackedChanges.push({
      event: change.event,
      seq: change.seq,
      ...(change.event === 'edit'
        ? { text: change.payload.text as string }
        : { emoji: change.payload.emoji as string }),
      version: ack.message!.version,
    });
  }

  /** Sends steadily, one at a time, every `intervalMs`, until stop(). */
  run(intervalMs: number): void {
    this.sending = (async () => {
      while (!this.stopped) {
        const started = Date.now();
        await this.sendOne();
        await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (Date.now() - started))));
      }
      // Whatever was in flight is retried until it is acked: a sender never gives up a message.
      const deadline = Date.now() + 30_000;
      while ((this.pending || this.changes.length > 0) && Date.now() < deadline) {
        if (!this.socket?.connected) await this.reconnect();
        await this.sendOne();
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.sending;
  }

  close(): void {
    this.stopped = true;
    this.socket?.close();
  }

  get unacked(): string | undefined {
    return this.pending ?? (this.changes.length > 0 ? `${this.changes.length} changes` : undefined);
  }

  /** The user this client sends as (from its token). */
  get userId(): string {
    return (JSON.parse(Buffer.from(this.token.split('.')[1]!, 'base64url').toString()) as { sub: string })
      .sub;
  }
}

export interface Verdict {
  rows: number;
  gapFree: boolean;
  duplicateClientMsgIds: number;
  ackedMissing: number;
  ackedWrongSeq: number;
  unacked: number;
  clientsBehind: number;
  liveDuplicates: number;
}

/** Nothing lost, duplicated, reordered or left behind: what every scenario's verdict must be. */
export const CLEAN_VERDICT = {
  gapFree: true,
  duplicateClientMsgIds: 0,
  ackedMissing: 0,
  ackedWrongSeq: 0,
  unacked: 0,
  clientsBehind: 0,
  liveDuplicates: 0,
} satisfies Partial<Verdict>;

/** Compares what the clients were told and hold with what the database has. */
export async function verify(
  query: <T>(sql: string, params?: unknown[]) => Promise<T[]>,
  roomId: string,
  clients: LoadClient[],
): Promise<Verdict> {
  const rows = await query<{ seq: number; client_msg_id: string | null; user_id: string }>(
    'SELECT seq, client_msg_id, user_id FROM messages WHERE room_id = $1 ORDER BY seq',
    [roomId],
  );
  const seqs = rows.map((r) => r.seq);
  const gapFree = seqs.every((s, i) => s === i + 1);
  const byClientMsgId = new Map<string, number[]>();
  for (const r of rows)
    if (r.client_msg_id)
      byClientMsgId.set(r.client_msg_id, [...(byClientMsgId.get(r.client_msg_id) ?? []), r.seq]);
  let duplicateClientMsgIds = 0;
  for (const v of byClientMsgId.values()) if (v.length > 1) duplicateClientMsgIds++;
  let ackedMissing = 0;
  let ackedWrongSeq = 0;
  let unacked = 0;
  let clientsBehind = 0;
  let liveDuplicates = 0;
  const last = seqs.at(-1) ?? 0;
  for (const c of clients) {
    for (const [id, seq] of c.stats.acked) {
      const stored = byClientMsgId.get(id);
      if (!stored) ackedMissing++;
      else if (stored[0] !== seq) ackedWrongSeq++;
    }
    if (c.unacked) unacked++;
    liveDuplicates += c.stats.liveDuplicates;
    if (c.contiguous() !== last || c.seen.size !== last) clientsBehind++;
  }
  return {
    rows: rows.length,
    gapFree,
    duplicateClientMsgIds,
    ackedMissing,
    ackedWrongSeq,
    unacked,
    clientsBehind,
    liveDuplicates,
  };
}

export interface ChangesVerdict {
  ackedChanges: number;
  /** Acked edits whose text, or acked reactions whose row, the database does not have. */
  ackedChangesMissing: number;
  /** Clients whose view of some message differs from the database (text, version or reactions). */
  clientsStale: number;
}

/** Every acked edit and reaction is stored, and every client holds each message as stored. */
export async function verifyChanges(
  query: <T>(sql: string, params?: unknown[]) => Promise<T[]>,
  roomId: string,
  clients: LoadClient[],
): Promise<ChangesVerdict> {
  const rows = await query<{ seq: number; text: string; version: number; reactions: string }>(
    `SELECT m.seq, m.text, m.version,
            coalesce((SELECT json_agg(r.user_id || ' ' || r.emoji ORDER BY r.user_id, r.emoji)
                        FROM reactions r WHERE r.message_id = m.id), '[]'::json)::text AS reactions
       FROM messages m WHERE m.room_id = $1 ORDER BY m.seq`,
    [roomId],
  );
  const bySeq = new Map(rows.map((r) => [r.seq, { ...r, reactions: JSON.parse(r.reactions) as string[] }]));
  let ackedChanges = 0;
  let ackedChangesMissing = 0;
  let clientsStale = 0;
  for (const c of clients) {
    for (const ch of c.stats.ackedChanges) {
      ackedChanges++;
      const row = bySeq.get(ch.seq);
      const stored =
        ch.event === 'edit' ? row?.text === ch.text : row?.reactions.includes(`${c.userId} ${ch.emoji}`);
      if (!stored || row!.version < ch.version) ackedChangesMissing++;
    }
    const stale = [...bySeq.values()].some((row) => {
      const held = c.seen.get(row.seq);
      const reactions = (held?.reactions ?? [])
        .flatMap((r) => r.userIds.map((u) => `${u} ${r.emoji}`))
        .sort();
      return (
        !held ||
        held.text !== row.text ||
        held.version !== row.version ||
        reactions.join() !== [...row.reactions].sort().join()
      );
    });
    if (stale) clientsStale++;
  }
  return { ackedChanges, ackedChangesMissing, clientsStale };
}
