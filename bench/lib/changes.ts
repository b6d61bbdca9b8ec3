import { io, type Socket } from 'socket.io-client';
import { quantile } from './stats.ts';

/**
 * Measurements of changes to messages over one socket (used by the `changes` scenario of
 * `npm run bench` and by `npm run bench:changes`).
 */

type Ok = { ok: true; [k: string]: unknown };
type Ack = Ok | { ok: false; error: { code: string } };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function openSocket(url: string, token: string): Promise<Socket> {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token } });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

/** Emits with an ack and times it; a refused event throws. */
async function timed(socket: Socket, event: string, payload: unknown): Promise<{ ms: number; ack: Ok }> {
  const t0 = performance.now();
  const ack = (await socket.timeout(10_000).emitWithAck(event, payload)) as Ack;
  const ms = performance.now() - t0;
  if (!ack.ok) throw new Error(`${event}: ${JSON.stringify(ack.error)}`);
  return { ms, ack };
}

const idOf = (ack: Ok) => (ack.message as { id: string }).id;

export type AckKind = 'message' | 'edit' | 'react';

/**
 * `message`, `edit` and `react` in turn, one in flight, `ratePerSecond` operations a second in
 * all; edits and reactions target random earlier messages of the room, and each is a real
 * change (a new text; a reaction added or taken back). Ack latencies in ms.
 */
export async function measureAcks(
  socket: Socket,
  roomId: string,
  ops: number,
  ratePerSecond: number,
): Promise<Record<AckKind, number[]>> {
  await timed(socket, 'join', { roomId });
  const lat: Record<AckKind, number[]> = { message: [], edit: [], react: [] };
  const ids: string[] = [];
  const emoji = ['👍', '🎉', '❤️', '👀'];
  // This socket's reactions, so each `react` adds one it lacks or removes one it has: a
  // real change, as each edit is (a no-op answers from one read and would flatter the figure).
  const reacted = new Set<string>();
  for (let i = 0; i < 10; i++)
    ids.push(idOf((await timed(socket, 'message', { roomId, text: `warm ${i}` })).ack));
  const gap = 1000 / ratePerSecond;
  for (let i = 0; i < ops; i++) {
    const started = performance.now();
    const kind = (['message', 'edit', 'react'] as const)[i % 3]!;
    const messageId = ids[Math.floor(Math.random() * ids.length)]!;
    const e = emoji[i % emoji.length]!;
    const reaction = `${messageId} ${e}`;
    const payload =
      kind === 'message'
        ? { roomId, text: `message ${i}` }
        : kind === 'edit'
          ? { roomId, messageId, text: `edit ${i}` }
          : { roomId, messageId, emoji: e, on: !reacted.has(reaction) };
    const { ms, ack } = await timed(socket, kind, payload);
    if (kind === 'react' && !reacted.delete(reaction)) reacted.add(reaction);
    lat[kind].push(ms);
    if (kind === 'message') ids.push(idOf(ack));
    await sleep(Math.max(0, gap - (performance.now() - started)));
  }
  return lat;
}

export interface CatchUpFigures {
  /** One `join {sinceSeq, sinceVersion}`: the first 100 changes. */
  joinWithSinceVersion: number[];
  /** `join {sinceSeq}` of the same room, nothing new: the reference. */
  joinWithoutSinceVersion: number[];
  /** Joins until `hasMoreChanges` is false. */
  completeCatchUp: number[];
  joinsPerCatchUp: number;
}

/**
 * The client holds `changes` messages (sent into the empty `roomId`), then each is edited
 * once; then `joins` times: one join with sinceVersion, one without, one complete catch-up.
 */
export async function measureCatchUp(
  socket: Socket,
  roomId: string,
  changes: number,
  joins: number,
): Promise<CatchUpFigures> {
  await timed(socket, 'join', { roomId });
  const ids: string[] = [];
  for (let i = 0; i < changes; i++)
    ids.push(idOf((await timed(socket, 'message', { roomId, text: `m${i}` })).ack));
  const held = (await timed(socket, 'join', { roomId, sinceSeq: changes })).ack.room as {
    lastSeq: number;
    lastVersion: number;
  };
  for (let i = 0; i < changes; i++)
    await timed(socket, 'edit', { roomId, messageId: ids[i]!, text: `edited ${i}` });
  const out: CatchUpFigures = {
    joinWithSinceVersion: [],
    joinWithoutSinceVersion: [],
    completeCatchUp: [],
    joinsPerCatchUp: 0,
  };
  for (let r = 0; r < joins; r++) {
    const since = { roomId, sinceSeq: held.lastSeq, sinceVersion: held.lastVersion };
    out.joinWithSinceVersion.push((await timed(socket, 'join', since)).ms);
    out.joinWithoutSinceVersion.push((await timed(socket, 'join', { roomId, sinceSeq: held.lastSeq })).ms);
    const t0 = performance.now();
    let got = 0;
    let rounds = 0;
    for (;;) {
      const { ack } = await timed(socket, 'join', since);
      const page = ack.changes as { version: number }[];
      got += page.length;
      rounds++;
      if (!ack.hasMoreChanges) break;
      since.sinceVersion = page.at(-1)!.version;
    }
    out.completeCatchUp.push(performance.now() - t0);
    out.joinsPerCatchUp = rounds;
    if (got !== changes) throw new Error(`catch-up returned ${got} changes, expected ${changes}`);
  }
  return out;
}

const p = (xs: number[], q: number) => Number(quantile(xs, q).toFixed(2));
export const latencySummary = (xs: number[]) => ({ n: xs.length, p50: p(xs, 0.5), p99: p(xs, 0.99) });
