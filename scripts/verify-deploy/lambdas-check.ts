import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type BuiltBundle, buildLambda, lambdaEntries } from '../build-functions.ts';
import { call, type RoutedFunction, sessionFrom, type Viewer } from './cloudfront-requests.ts';
import { LambdaProcess } from './lambda-runtime.ts';
import type { Program } from './program.ts';
import { assert, onCleanup, step } from './steps.ts';

/** The deployed Lambda name of each entry (sst.aws.Cron names its function `<cron>Handler`). */
const DEPLOYED_NAME: Record<string, string> = {
  Auth: 'AuthFunction',
  Rooms: 'RoomsFunction',
  Messages: 'MessagesFunction',
  Search: 'SearchFunction',
  Uploads: 'UploadsFunction',
  Docs: 'DocsFunction',
  Migrate: 'MigrateFunction',
  SweepUploads: 'SweepUploadsScheduleHandlerFunction',
};

export interface LambdaCheckResult {
  /** A session for the realtime check. */
  session: { pair: string; token: string };
  roomId: string;
}

/**
 * Every function bundled as SST bundles it and run as Lambda runs it (lambda-runtime.ts),
 * with the environment the evaluated program gives it, against the TLS servers that
 * program's mock cloud points at, with requests shaped like CloudFront's.
 */
export async function checkLambdas(
  program: Program,
  opts: { workDir: string; runtimeCa: string; region: string },
): Promise<LambdaCheckResult> {
  const bundles = await step(
    'Lambdas bundled as SST bundles them',
    () => Promise.all(lambdaEntries.map((e) => buildLambda(e, join(opts.workDir, 'functions')))),
    (bs) => bs.map((b) => `${b.name} ${(b.bytes / 1024 / 1024).toFixed(1)} MB`).join(', '),
  );
  const started = new Map<string, LambdaProcess>();
  const start = (bundle: BuiltBundle) => {
    const name = DEPLOYED_NAME[bundle.name];
    assert(name, `no deployed name for ${bundle.name}`);
    const fn = LambdaProcess.start({
      bundle,
      environment: program.lambdaEnvironment(name),
      runtimeCa: opts.runtimeCa,
      workDir: opts.workDir,
      region: opts.region,
    });
    started.set(bundle.name, fn);
    return fn;
  };
  onCleanup(() => Promise.all([...started.values()].map((f) => f.stop())));
  const byName = Object.fromEntries(bundles.map((b) => [b.name, b]));
  const publicOrigin = program.evaluation.outputs.url as string;
  assert(
    typeof publicOrigin === 'string',
    `the program returned no url: ${JSON.stringify(program.evaluation.outputs)}`,
  );
  const publicHost = new URL(publicOrigin).host;
  const routed = (name: string): RoutedFunction => {
    const b = byName[name];
    assert(b, `no bundle ${name}`);
    return { fn: started.get(name) ?? start(b), functionHost: program.functionUrlHost(name), publicHost };
  };

  try {
    // Before Migrate on purpose: the document needs no schema (nor any connection).
    await step(
      'Docs behind the router: GET /api/openapi.json answers the OpenAPI 3.1 document',
      async () => {
        const res = await call(routed('Docs'), 'GET', '/api/openapi.json', {
          viewer: { address: '203.0.113.9', origin: publicOrigin },
        });
        const doc = res.json as { openapi?: string; paths?: Record<string, unknown> } | undefined;
        assert(res.status === 200, `openapi.json → ${res.status} ${JSON.stringify(res.json)}`);
        assert(doc?.openapi === '3.1.0', `not an OpenAPI 3.1 document: ${JSON.stringify(doc).slice(0, 200)}`);
        for (const path of ['/api/auth/login', '/api/messages', '/api/search', '/api/openapi.json'])
          assert(doc.paths?.[path], `the document lacks ${path}`);
        return Object.keys(doc.paths ?? {}).length;
      },
      (n) => `200, ${n} paths, before any migration`,
    );

    await step(
      'Migrate: run from a read-only /var/task with exactly its program environment, over TLS',
      async () => {
        const migrate = start(byName.Migrate!);
        const first = (await migrate.invoke({
          deployedAt: new Date().toISOString(),
          stage: program.stage,
        })) as { applied: string[]; latest: string };
        assert(first.applied.length > 0 && first.latest, `nothing applied: ${JSON.stringify(first)}`);
        const again = (await migrate.invoke({})) as { applied: string[]; latest: string };
        assert(
          again.applied.length === 0 && again.latest === first.latest,
          `second run applied ${JSON.stringify(again)}`,
        );
        // The mocked invocation answered what the real one answers: the functions' schema version.
        const expected = program.lambdaEnvironment('AuthFunction').PARLEY_SCHEMA_VERSION;
        assert(
          first.latest === expected,
          `Migrate returned ${first.latest}, the functions carry ${expected}`,
        );
        return first;
      },
      (r) => `${r.applied.length} applied, schema ${r.latest}, second run a no-op`,
    );

    const browser: Viewer = { address: '203.0.113.7', origin: publicOrigin };
    const username = `verify_${randomBytes(3).toString('hex')}`;
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const session = await step(
      'Auth behind the router: register, login, the sid cookie beside the OAC signature',
      async () => {
        const auth = routed('Auth');
        const reg = await call(auth, 'POST', '/api/auth/register', {
          body: { username, password },
          viewer: browser,
        });
        assert(reg.status === 201, `register → ${reg.status} ${JSON.stringify(reg.json)}`);
        assert(
          reg.headers['cache-control'] === 'no-store',
          `register Cache-Control: ${reg.headers['cache-control']}`,
        );
        const login = await call(auth, 'POST', '/api/auth/login', {
          body: { username, password },
          viewer: browser,
        });
        assert(login.status === 200, `login → ${login.status} ${JSON.stringify(login.json)}`);
        const s = sessionFrom(login.cookies);
        assert(
          /;\s*Secure/i.test(s.attributes) && /;\s*HttpOnly/i.test(s.attributes),
          `sid cookie lacks Secure/HttpOnly: ${s.attributes}`,
        );
        const withCookie: Viewer = { ...browser, cookies: ['theme=dark', s.pair] };
        const me = await call(auth, 'GET', '/api/auth/me', { viewer: withCookie });
        assert(
          me.status === 200,
          `me with the sid cookie behind OAC → ${me.status} ${JSON.stringify(me.json)}`,
        );
        return s;
      },
      () =>
        'register 201, login 200 (Secure HttpOnly sid), me 200 with the cookie while Authorization is CloudFront’s',
    );

    await step(
      'Native clients: the Bearer token survives the router (X-Parley-Authorization), and works directly',
      async () => {
        const auth = routed('Auth');
        const native: Viewer = {
          address: '198.51.100.20',
          headers: { 'x-parley-authorization': `Bearer ${session.token}` },
        };
        const me = await call(auth, 'GET', '/api/auth/me', { viewer: native });
        assert(
          me.status === 200,
          `me with X-Parley-Authorization behind OAC → ${me.status} ${JSON.stringify(me.json)}`,
        );
        const direct = await call(auth, 'GET', '/api/auth/me', {
          direct: true,
          viewer: { address: '198.51.100.20', headers: { authorization: `Bearer ${session.token}` } },
        });
        assert(direct.status === 200, `me with Authorization: Bearer, called directly → ${direct.status}`);
        const forged = await call(auth, 'GET', '/api/auth/me', {
          viewer: { address: '198.51.100.20', headers: { 'x-parley-authorization': 'Bearer not.a.token' } },
        });
        assert(forged.status === 401, `a forged token → ${forged.status}`);
        const none = await call(auth, 'GET', '/api/auth/me', { viewer: { address: '198.51.100.20' } });
        assert(none.status === 401, `only the OAC signature → ${none.status}`);
      },
      () =>
        'X-Parley-Authorization 200, direct Authorization: Bearer 200, forged 401, OAC signature alone 401',
    );

    await step(
      'Client addresses: CloudFront-Viewer-Address, not the forgeable X-Forwarded-For or the edge',
      async () => {
        const auth = routed('Auth');
        // Two viewers behind the same edge server, both writing the same X-Forwarded-For.
        const spoof = '198.51.100.1';
        const a: Viewer = { address: '192.0.2.10', forwardedFor: spoof };
        const b: Viewer = { address: '192.0.2.11', forwardedFor: spoof };
        const failLogin = (viewer: Viewer, i: number) =>
          call(auth, 'POST', '/api/auth/login', {
            body: { username: `nobody_${i}_${randomBytes(3).toString('hex')}`, password: 'wrong-password' },
            viewer,
          });
        // Distinct usernames, so only the per-address limit can trip.
        let failures = 0;
        for (; failures < 1000; failures++) {
          const res = await failLogin(a, failures);
          if (res.status === 429) break;
          assert(res.status === 401, `failed login → ${res.status} ${JSON.stringify(res.json)}`);
        }
        assert(
          failures > 0 && failures < 1000,
          `viewer A was never throttled per address (${failures} failures)`,
        );
        const other = await failLogin(b, 0);
        assert(
          other.status === 401,
          `viewer B (another address, same edge, same X-Forwarded-For) → ${other.status}: the limit keys on the wrong address`,
        );
        return failures;
      },
      (n) =>
        `viewer A throttled after ${n} failures; viewer B behind the same edge with the same X-Forwarded-For still 401`,
    );

    const roomId = await step(
      'Rooms, Messages, Search, Uploads behind the router with the cookie',
      async () => {
        const viewer: Viewer = { ...browser, cookies: [session.pair] };
        const created = await call(routed('Rooms'), 'POST', '/api/rooms', {
          body: { name: 'Deploy check' },
          viewer,
        });
        assert(created.status === 201, `create room → ${created.status} ${JSON.stringify(created.json)}`);
        const id = (created.json.room as { id: string }).id;
        const anon = await call(routed('Rooms'), 'GET', '/api/rooms', { viewer: browser });
        assert(anon.status === 401, `rooms without a session → ${anon.status}`);
        const history = await call(routed('Messages'), 'GET', '/api/messages', {
          query: { roomId: id },
          viewer,
        });
        assert(
          history.status === 200 && history.json.hasMore === false,
          `history → ${history.status} ${JSON.stringify(history.json)}`,
        );
        const search = await call(routed('Search'), 'GET', '/api/search', {
          query: { q: 'deploy', roomId: id },
          viewer,
        });
        assert(
          search.status === 200 && Array.isArray(search.json.messages) && search.json.nextCursor === null,
          `search → ${search.status} ${JSON.stringify(search.json)}`,
        );
        const init = await call(routed('Uploads'), 'POST', '/api/upload/init', {
          body: { roomId: id, filename: 'hello.txt', mime: 'text/plain', bytes: 5 },
          viewer,
        });
        assert(
          init.status === 200 && init.json.method === 'POST',
          `upload init → ${init.status} ${JSON.stringify(init.json)}`,
        );
        const bucket = program.lambdaEnvironment('UploadsFunction').S3_BUCKET!;
        assert(
          String(init.json.url).includes(bucket),
          `upload target ${String(init.json.url)} is not the program's bucket ${bucket}`,
        );
        return id;
      },
      () => 'room 201, anonymous 401, history 200, search 200, presigned POST to the program’s bucket',
    );

    await step(
      'SweepUploads: the scheduled sweep from its bundle',
      async () => {
        const r = (await start(byName.SweepUploads!).invoke({})) as { deleted: number; failed: number };
        assert(typeof r?.deleted === 'number' && r.failed === 0, `sweep returned ${JSON.stringify(r)}`);
        return r;
      },
      (r) => `deleted ${r.deleted}, failed ${r.failed}`,
    );
    return { session, roomId };
  } catch (err) {
    for (const f of started.values()) {
      if (f.log.length) process.stdout.write(`--- ${f.name} output ---\n${f.log.join('').slice(-2000)}\n`);
    }
    throw err;
  }
}
