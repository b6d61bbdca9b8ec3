import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate, type SqlSession } from '../../core/db/migrate.ts';

/**
 * The benchmark's own database: created fresh for a run (`parley_bench_<random>`), migrated
 * with the product's migrations, seeded with set-based SQL (generate_series, one statement
 * per table) because row-by-row seeding of a million messages would dominate the run, and
 * dropped at the end.
 */

export interface BenchDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

export async function isReachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function createBenchDatabase(adminUrl: string): Promise<BenchDatabase> {
  const name = `parley_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();

  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const session: SqlSession = {
      query: async (sql, params) => (await client.query(sql, params)).rows,
      exec: async (sql) => void (await client.query(sql)),
    };
    await migrate(session);
  } finally {
    await client.end();
  }
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  return {
    name,
    url,
    pool,
    async drop() {
      await pool.end();
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

/** Bench user n has id `bu<n>` and username `bench_<n>`. */
export const userId = (n: number) => `bu${n}`;
export const userName = (n: number) => `bench_${n}`;

export async function seedUsers(pool: pg.Pool, count: number): Promise<void> {
  await pool.query(
    `INSERT INTO users (id, username, username_key, password_hash)
     SELECT 'bu' || g, 'bench_' || g, 'bench_' || g, 'not-a-password-hash' FROM generate_series(1, $1::int) g`,
    [count],
  );
}

/** A room whose members are users `from`..`to` (inclusive). */
export async function seedRoom(pool: pg.Pool, roomId: string, from: number, to: number): Promise<void> {
  await pool.query('INSERT INTO rooms (id, name) VALUES ($1, $1)', [roomId]);
  await pool.query(
    `INSERT INTO room_members (id, room_id, user_id)
     SELECT $1 || ':' || g, $1, 'bu' || g FROM generate_series($2::int, $3::int) g`,
    [roomId, from, to],
  );
}

/**
 * Histories for several rooms: `count` messages each from user 1, seq 1..count, one
 * millisecond apart. A bulk load: the messages indexes are dropped and rebuilt from their
 * own definitions (pg_indexes, so they stay exactly the migrations'), and the foreign-key
 * triggers are skipped for this session (the seed references only rows it created). That
 * takes a million rows from about a minute to a few seconds here.
 */
export async function seedHistories(
  pool: pg.Pool,
  rooms: { roomId: string; count: number }[],
): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SET synchronous_commit = off');
    await client.query("SET maintenance_work_mem = '256MB'");
    await client.query('BEGIN');
    const { rows: indexes } = await client.query<{ indexname: string; indexdef: string }>(
      "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'messages' AND indexname <> 'messages_pkey'",
    );
    for (const i of indexes) await client.query(`DROP INDEX "${i.indexname}"`);
    // Foreign keys that reference messages (replies, reactions) hang on its primary key.
    const { rows: references } = await client.query<{ tbl: string; name: string; def: string }>(
      `SELECT conrelid::regclass::text AS tbl, conname AS name, pg_get_constraintdef(oid) AS def
         FROM pg_constraint WHERE contype = 'f' AND confrelid = 'messages'::regclass`,
    );
    for (const r of references) await client.query(`ALTER TABLE ${r.tbl} DROP CONSTRAINT "${r.name}"`);
    await client.query('ALTER TABLE messages DROP CONSTRAINT messages_pkey');
    await client.query('SET LOCAL session_replication_role = replica');
    for (const { roomId, count } of rooms) {
      const startTs = Date.now() - count;
      await client.query(
        `INSERT INTO messages (id, room_id, seq, user_id, name, text, ts, client_msg_id, attachment_id, version)
         SELECT $1 || ':' || g, $1, g, 'bu1', 'bench_1',
                'history message ' || g || ': the quick brown fox jumps over the lazy dog', $3::bigint + g, NULL, NULL, g
           FROM generate_series(1, $2::int) g`,
        [roomId, count, startTs],
      );
      await client.query('UPDATE rooms SET last_seq = $2, last_ts = $3, last_version = $2 WHERE id = $1', [
        roomId,
        count,
        startTs + count,
      ]);
    }
    await client.query('SET LOCAL session_replication_role = origin');
    await client.query('ALTER TABLE messages ADD CONSTRAINT messages_pkey PRIMARY KEY (id)');
    for (const r of references)
      await client.query(`ALTER TABLE ${r.tbl} ADD CONSTRAINT "${r.name}" ${r.def}`);
    for (const i of indexes) await client.query(i.indexdef);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export async function analyze(pool: pg.Pool): Promise<void> {
  await pool.query('VACUUM ANALYZE messages');
  await pool.query('ANALYZE rooms');
  await pool.query('ANALYZE room_members');
  await pool.query('ANALYZE users');
}

/**
 * Rooms `<prefix>1..<prefix>N` whose members are user `lister` and user 1 (who sends their
 * histories, seeded separately by seedHistories); then, once the histories exist,
 * markRead sets the lister's markers at varied positions so that rooms have unread messages.
 */
export async function seedListRooms(
  pool: pg.Pool,
  prefix: string,
  rooms: number,
  lister: number,
): Promise<void> {
  await pool.query(
    `INSERT INTO rooms (id, name) SELECT $1 || g, $1 || g FROM generate_series(1, $2::int) g`,
    [prefix, rooms],
  );
  await pool.query(
    `INSERT INTO room_members (id, room_id, user_id)
     SELECT $1 || g || ':' || u, $1 || g, u FROM generate_series(1, $2::int) g, unnest(ARRAY['bu1', $3]) u`,
    [prefix, rooms, userId(lister)],
  );
}

/** The lister's marker in each `<prefix>k` room: k·7 mod (last_seq + 1), so unread counts vary. */
export async function markRead(pool: pg.Pool, prefix: string, lister: number): Promise<void> {
  await pool.query(
    `UPDATE room_members rm SET last_read_seq = (substr(r.id, length($1) + 1)::int * 7) % (r.last_seq + 1)
       FROM rooms r WHERE r.id = rm.room_id AND rm.user_id = $2 AND r.id LIKE $1 || '%'`,
    [prefix, userId(lister)],
  );
}
