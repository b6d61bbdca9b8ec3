import { type ChildProcess, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { assert, onCleanup, run } from './steps.ts';

/**
 * Private Postgres and Redis servers that accept TLS only, with a certificate made for this
 * run: what RDS (rds.force_ssl=1) and ElastiCache (in-transit encryption, auth token) are
 * to the deployed code. The machine's shared servers are never touched. Loopback only.
 */

export interface Tls {
  /** The self-signed certificate, also its own CA: what the clients must trust. */
  caFile: string;
  certFile: string;
  keyFile: string;
}

export async function makeCertificate(dir: string): Promise<Tls> {
  mkdirSync(dir, { recursive: true });
  const certFile = join(dir, 'server.crt');
  const keyFile = join(dir, 'server.key');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  chmodSync(certFile, 0o644);
  return { caFile: certFile, certFile, keyFile };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function until(what: string, probe: () => Promise<unknown>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await probe();
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`${what} not ready in ${timeoutMs} ms: ${(last as Error)?.message}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

export interface TlsRedis {
  host: string;
  port: number;
  password: string;
}

/** redis-server with only a TLS port and an auth token (ElastiCache's `default` user). */
export async function startTlsRedis(dir: string, tls: Tls, password: string): Promise<TlsRedis> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'redis.conf');
  // A config file, so the token (with its special characters) needs no shell quoting.
  writeFileSync(
    conf,
    [
      'bind 127.0.0.1',
      'port 0',
      `tls-port ${port}`,
      `tls-cert-file ${tls.certFile}`,
      `tls-key-file ${tls.keyFile}`,
      `tls-ca-cert-file ${tls.caFile}`,
      'tls-auth-clients no',
      'save ""',
      'appendonly no',
      `dir ${dir}`,
      `requirepass "${password}"`,
    ].join('\n'),
  );
  const child = spawn('redis-server', [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  onCleanup(() => stopChild(child));
  await until(`redis-server (TLS ${port})`, async () => {
    if (child.exitCode !== null) throw new Error(`redis-server exited: ${log.slice(-500)}`);
    const r = new Redis({
      host: '127.0.0.1',
      port,
      password,
      tls: { ca: readCa(tls) },
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    r.on('error', () => undefined);
    try {
      await r.connect();
      assert((await r.ping()) === 'PONG', 'no PONG');
    } finally {
      r.disconnect();
    }
  });
  return { host: '127.0.0.1', port, password };
}

export interface TlsPostgres {
  host: string;
  port: number;
  user: string;
  password: string;
}

const PG_BIN = () => {
  const versions = readdirSync('/usr/lib/postgresql').sort();
  assert(versions.length > 0, 'no PostgreSQL server binaries under /usr/lib/postgresql');
  return join('/usr/lib/postgresql', versions.at(-1)!, 'bin');
};

/**
 * A private cluster that refuses plain connections (hostnossl … reject) and asks for the
 * password over TLS, as RDS does. initdb refuses root, so the cluster belongs to `postgres`.
 */
export async function startTlsPostgres(dir: string, tls: Tls, password: string): Promise<TlsPostgres> {
  const asRoot = process.getuid?.() === 0;
  const bin = PG_BIN();
  const data = join(dir, 'data');
  mkdirSync(data, { recursive: true });
  const owner = asRoot ? Number((await run('id', ['-u', 'postgres'])).trim()) : undefined;
  const group = asRoot ? Number((await run('id', ['-g', 'postgres'])).trim()) : undefined;
  if (owner !== undefined && group !== undefined) {
    chownSync(dir, owner, group);
    chownSync(data, owner, group);
  }
  chmodSync(data, 0o700);
  const as = (cmd: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', cmd, ...args], {}, dir) : run(cmd, args, {}, dir);
  await as(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  copyFileSync(tls.certFile, join(data, 'server.crt'));
  copyFileSync(tls.keyFile, join(data, 'server.key'));
  chmodSync(join(data, 'server.key'), 0o600);
  writeFileSync(
    join(data, 'pg_hba.conf'),
    [
      'local all all trust',
      'hostnossl all all 127.0.0.1/32 reject',
      'hostssl all all 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
  );
  if (owner !== undefined && group !== undefined) {
    for (const f of ['server.crt', 'server.key', 'pg_hba.conf']) chownSync(join(data, f), owner, group);
  }
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c ssl=on -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`;
  await as(join(bin, 'pg_ctl'), [
    '-D',
    data,
    '-o',
    options,
    '-l',
    join(dir, 'server.log'),
    '-w',
    '-t',
    '30',
    'start',
  ]);
  onCleanup(() => as(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']));
  // The master user's password, set over the local socket (trust there).
  const local = new pg.Client({ host: dir, port, user: 'postgres', database: 'postgres' });
  await local.connect();
  try {
    await local.query(`ALTER USER postgres PASSWORD '${password.replaceAll("'", "''")}'`);
  } finally {
    await local.end();
  }
  return { host: '127.0.0.1', port, user: 'postgres', password };
}

/** Creates the database the program's DATABASE_URL names, over TLS like any other client. */
export async function createDatabase(server: TlsPostgres, tls: Tls, name: string): Promise<void> {
  const client = new pg.Client({
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database: 'postgres',
    ssl: { ca: readCa(tls) },
  });
  await client.connect();
  try {
    const { rows } = await client.query<{ ssl: boolean }>(
      'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
    );
    assert(rows[0]?.ssl === true, 'the admin connection is not TLS');
    await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
}

function readCa(tls: Tls): string {
  return readFileSync(tls.caFile, 'utf8');
}
