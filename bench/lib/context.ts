import type { BenchDatabase } from './db.ts';
import type { Child } from './children.ts';
import type { ResultEntry } from './report.ts';
import type { ServerUnderTest } from './servers.ts';
import type { BenchClient } from './tokens.ts';

/** Sizes and repetitions of a run: `quick` fits in five minutes here, `full` is larger. */
export interface Profile {
  name: 'quick' | 'full';
  reps: number;
  /** Length of one measured window of a socket scenario. */
  windowMs: number;
  /** Rooms of `members` sockets; `tabsPerUser` sockets share one user (1: all distinct). */
  broadcast: { members: number; tabsPerUser: number; ratePerSecond: number }[];
  busyRoomSenders: number;
  smallRooms: { rooms: number; members: number; window: number };
  insertPool: number;
  latencyLightRate: number;
  history: { rooms: { roomId: string; count: number }[]; requests: number };
  /** GET /api/search requests per query and rep (the naive reference of a common word takes ~1 s). */
  search: { requests: number };
  /** Fresh server processes per rep (start-up dominates), so fewer reps than the rest. */
  memory: { sockets: number[]; reps: number };
  join: { sockets: number; messages: number };
  /** The changes scenario: acks per run and their rate; changes before the catch-up join. */
  changes: { ops: number; rate: number; count: number };
  textChars: number;
  /** read-markers: readers in one room, each reading every message; messages a second in; window. */
  readMarkers: { members: number; ratePerSecond: number; windowMs: number };
  /** rooms-list: rooms of the listing user, messages in each, GET /api/rooms requests per rep. */
  roomsList: { rooms: number; messagesPerRoom: number; requests: number };
}

export const PROFILES: Record<Profile['name'], Profile> = {
  quick: {
    name: 'quick',
    reps: 3,
    windowMs: 2_000,
    broadcast: [
      { members: 100, tabsPerUser: 1, ratePerSecond: 50 },
      { members: 1000, tabsPerUser: 1, ratePerSecond: 5 },
    ],
    busyRoomSenders: 40,
    smallRooms: { rooms: 50, members: 4, window: 1 },
    insertPool: 4,
    latencyLightRate: 20,
    history: {
      rooms: [
        { roomId: 'h100k', count: 100_000 },
        { roomId: 'h1m', count: 1_000_000 },
      ],
      requests: 120,
    },
    search: { requests: 15 },
    memory: { sockets: [1000, 5000], reps: 2 },
    join: { sockets: 100, messages: 200 },
    changes: { ops: 150, rate: 30, count: 1000 },
    textChars: 100,
    readMarkers: { members: 1000, ratePerSecond: 5, windowMs: 6_000 },
    roomsList: { rooms: 500, messagesPerRoom: 40, requests: 60 },
  },
  full: {
    name: 'full',
    reps: 5,
    windowMs: 8_000,
    broadcast: [
      { members: 100, tabsPerUser: 1, ratePerSecond: 100 },
      { members: 1000, tabsPerUser: 1, ratePerSecond: 10 },
    ],
    busyRoomSenders: 100,
    smallRooms: { rooms: 200, members: 4, window: 1 },
    insertPool: 4,
    latencyLightRate: 20,
    history: {
      rooms: [
        { roomId: 'h100k', count: 100_000 },
        { roomId: 'h1m', count: 2_000_000 },
      ],
      requests: 1000,
    },
    search: { requests: 60 },
    memory: { sockets: [1000, 5000], reps: 5 },
    join: { sockets: 300, messages: 200 },
    changes: { ops: 600, rate: 30, count: 1000 },
    textChars: 100,
    readMarkers: { members: 1000, ratePerSecond: 10, windowMs: 15_000 },
    roomsList: { rooms: 500, messagesPerRoom: 40, requests: 300 },
  },
};

export interface Bench {
  profile: Profile;
  db: BenchDatabase;
  redisUrl: string | undefined;
  parley: ServerUnderTest;
  baseline: ServerUnderTest;
  /** Whether Parley's realtime tier answered the probe; its socket scenarios need it. */
  parleyRealtime: { ok: boolean; reason?: string };
  /** Socket load generators, one per core. */
  loaders: Child[];
  insertLoader: Child;
  historyLoader: Child;
  clients: BenchClient[];
  /** The options Parley was started with, for scenarios that start their own (memory). */
  startParley(): Promise<ServerUnderTest>;
  startBaseline(): Promise<ServerUnderTest>;
  log(message: string): void;
  /** Where to write CPU profiles of Parley's measured windows (`--cpu-prof`), if anywhere. */
  cpuProfileDir: string | undefined;
}

export type Scenario = (bench: Bench) => Promise<ResultEntry[]>;
