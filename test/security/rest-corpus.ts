/**
 * The hostile-input corpus for the REST surface: for every route, a valid request mutated in
 * every way a careless or malicious client might (wrong types, missing and extra fields,
 * prototype keys, oversized and ill-formed strings, bodies that are not JSON at all), each
 * with the one answer the contract allows.
 */

type Body = string | Uint8Array;

export interface RestCase {
  name: string;
  method: string;
  path: string;
  body?: Body;
  headers?: Record<string, string>;
  /** Send without the caller's session. */
  anonymous?: boolean;
  status: number;
  code: string;
}

export interface CorpusContext {
  /** A room the caller is a member of. */
  roomId: string;
  /** A username that exists (for add-member). */
  otherUsername: string;
}

const BAD = { status: 400, code: 'invalid_request' };
const TOO_LARGE = { status: 413, code: 'payload_too_large' };
const NOT_FOUND = { status: 404, code: 'not_found' };

const json = (v: unknown) => JSON.stringify(v);
const utf8 = (s: string) => new TextEncoder().encode(s);

/** Invalid UTF-8 inside a JSON string: a lone continuation byte, an overlong NUL and a truncated sequence. */
const invalidUtf8Body = (field: string, rest: Record<string, unknown>): Uint8Array => {
  const before = utf8(
    `{${Object.entries(rest)
      .map(([k, v]) => `${json(k)}:${json(v)},`)
      .join('')}"${field}":"ab`,
  );
  const after = utf8('cd"}');
  return new Uint8Array([...before, 0x80, 0xc0, 0x80, 0xe2, 0x82, ...after]);
};

const deepArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const deepObject = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

/** Values of the wrong JSON type for a field that wants a string (or a number). */
const WRONG_FOR_STRING: Array<[string, unknown]> = [
  ['number', 42],
  ['null', null],
  ['boolean', true],
  ['array', ['x']],
  ['object', { x: 1 }],
];
const WRONG_FOR_NUMBER: Array<[string, unknown]> = [
  ['string', '12'],
  ['null', null],
  ['float', 1.5],
  ['negative', -1],
  ['array', [1]],
  ['huge', 1e300],
];

const NOT_AN_OBJECT: Array<[string, string]> = [
  ['empty body', ''],
  ['not JSON', 'hello'],
  ['truncated JSON', '{"a":'],
  ['JSON array', '[]'],
  ['JSON null', 'null'],
  ['JSON number', '42'],
  ['JSON string', '"text"'],
  ['single quotes', "{'a':1}"],
  ['trailing comma', '{"a":1,}'],
  ['NaN literal', '{"a":NaN}'],
  ['deeply nested array (5000)', deepArray(5000)],
  ['deeply nested object (3000)', deepObject(3000)],
];

interface BodyRoute {
  route: string;
  method: string;
  path: string;
  valid: Record<string, unknown>;
  strings: string[];
  numbers?: string[];
  anonymous?: boolean;
  /** What a well-shaped but wrong value is answered with (login: wrong credentials, not 400). */
  shapeOnly?: { status: number; code: string };
  /**
   * Fields that are only looked up: ill-formed text there (a lone surrogate, a NUL in a
   * username) names nothing that exists, so it is not found rather than malformed.
   */
  lookedUp?: Record<string, { surrogate: Expect; nul: Expect }>;
}

interface Expect {
  status: number;
  code: string;
}

function bodyRoutes(ctx: CorpusContext): BodyRoute[] {
  return [
    {
      route: 'register',
      method: 'POST',
      path: '/api/auth/register',
      valid: { username: 'valid_name', password: 'long enough password' },
      strings: ['username', 'password'],
      anonymous: true,
    },
    {
      route: 'login',
      method: 'POST',
      path: '/api/auth/login',
      valid: { username: 'valid_name', password: 'long enough password' },
      strings: ['username', 'password'],
      anonymous: true,
      shapeOnly: { status: 401, code: 'invalid_credentials' },
    },
    {
      route: 'create room',
      method: 'POST',
      path: '/api/rooms',
      valid: { name: 'a room' },
      strings: ['name'],
    },
    {
      route: 'add member',
      method: 'POST',
      path: `/api/rooms/${ctx.roomId}/members`,
      valid: { username: ctx.otherUsername },
      strings: ['username'],
      lookedUp: { username: { surrogate: NOT_FOUND, nul: NOT_FOUND } },
    },
    {
      route: 'upload init',
      method: 'POST',
      path: '/api/upload/init',
      valid: { roomId: ctx.roomId, filename: 'a.png', mime: 'image/png', bytes: 10 },
      strings: ['roomId', 'filename', 'mime'],
      numbers: ['bytes'],
      lookedUp: { roomId: { surrogate: NOT_FOUND, nul: BAD } },
    },
    {
      route: 'upload complete',
      method: 'POST',
      path: '/api/upload/complete',
      valid: { roomId: ctx.roomId, key: 'uploads/x/y/z' },
      strings: ['roomId', 'key'],
      lookedUp: { roomId: { surrogate: NOT_FOUND, nul: BAD }, key: { surrogate: NOT_FOUND, nul: BAD } },
    },
  ];
}

function bodyCases(r: BodyRoute): RestCase[] {
  const cases: RestCase[] = [];
  const add = (
    name: string,
    body: Body,
    expect: { status: number; code: string },
    headers?: Record<string, string>,
  ) =>
    cases.push({
      name: `${r.route}: ${name}`,
      method: r.method,
      path: r.path,
      body,
      headers: { 'content-type': 'application/json', ...headers },
      ...(r.anonymous ? { anonymous: true } : {}),
      ...expect,
    });
  const wrongValue = r.shapeOnly ?? BAD;

  for (const [name, body] of NOT_AN_OBJECT) add(name, body, BAD);
  add('body over 64 KiB', json({ ...r.valid, [r.strings[0]!]: 'x'.repeat(70_000) }), TOO_LARGE);
  add('1 MiB of spaces', ' '.repeat(1024 * 1024), TOO_LARGE);
  add('extra field', json({ ...r.valid, extra: 1 }), BAD);
  add('__proto__ key', `{"__proto__":{"admin":true},${json(r.valid).slice(1)}`, BAD);
  add('constructor key', json({ ...r.valid, constructor: { prototype: { admin: true } } }), BAD);
  add('prototype key', json({ ...r.valid, prototype: {} }), BAD);
  add('empty object', '{}', BAD);
  add('text/plain content type', json(r.valid), BAD, { 'content-type': 'text/plain' });
  add('form content type', 'username=a&password=b', BAD, {
    'content-type': 'application/x-www-form-urlencoded',
  });

  for (const field of [...r.strings, ...(r.numbers ?? [])]) {
    const { [field]: _drop, ...missing } = r.valid;
    add(`missing ${field}`, json(missing), BAD);
  }
  for (const field of r.strings) {
    for (const [kind, value] of WRONG_FOR_STRING)
      add(`${field} as ${kind}`, json({ ...r.valid, [field]: value }), BAD);
    add(`${field} oversized (20000 chars)`, json({ ...r.valid, [field]: 'y'.repeat(20_000) }), BAD);
    const surrogateBody = `{${Object.entries({ ...r.valid, [field]: 'PLACEHOLDER' })
      .map(([k, v]) => `${json(k)}:${v === 'PLACEHOLDER' ? '"ab\\ud800cdefgh"' : json(v)}`)
      .join(',')}}`;
    add(`${field} with a lone surrogate`, surrogateBody, r.lookedUp?.[field]?.surrogate ?? wrongValue);
    // Control characters are stripped from filenames, so there a NUL alone leaves nothing (400).
    const nul = field === 'filename' ? '\u0000\u0000' : 'ab\u0000cdefghij';
    add(`${field} with a NUL`, json({ ...r.valid, [field]: nul }), r.lookedUp?.[field]?.nul ?? wrongValue);
    // A body that is not UTF-8 is malformed as a whole, on every route (login included).
    const others = Object.fromEntries(Object.entries(r.valid).filter(([k]) => k !== field));
    add(`${field} with invalid UTF-8 bytes`, invalidUtf8Body(field, others), BAD);
  }
  for (const field of r.numbers ?? []) {
    for (const [kind, value] of WRONG_FOR_NUMBER) {
      add(`${field} as ${kind}`, json({ ...r.valid, [field]: value }), BAD);
    }
  }
  return cases;
}

/** Ids a client might put where a room id belongs: none was issued, so all are 404. */
const HOSTILE_IDS = [
  '*',
  '%2A',
  '{}',
  '%7B%7D',
  'a:b',
  'room:1',
  '%0A',
  'a%0Ab',
  '%00',
  '..',
  '..%2F..%2Fetc',
  '%27%20OR%201%3D1--',
  '$where',
  'constructor',
  '__proto__',
  'null',
  '-1',
  '0',
  '9'.repeat(40),
  'x'.repeat(200),
  '%F0%9F%92%A9',
  '%ED%A0%80', // an encoded lone surrogate
];

function idCases(): RestCase[] {
  const cases: RestCase[] = [];
  const nf = { status: 404, code: 'not_found' };
  for (const id of HOSTILE_IDS) {
    cases.push({ name: `GET room ${id}`, method: 'GET', path: `/api/rooms/${id}`, ...nf });
    cases.push({ name: `GET members of ${id}`, method: 'GET', path: `/api/rooms/${id}/members`, ...nf });
    cases.push({
      name: `POST member to ${id}`,
      method: 'POST',
      path: `/api/rooms/${id}/members`,
      body: json({ username: 'someone' }),
      headers: { 'content-type': 'application/json' },
      ...nf,
    });
    cases.push({ name: `leave ${id}`, method: 'DELETE', path: `/api/rooms/${id}/members/me`, ...nf });
    // A query value that is too long for an id is a request-shape error.
    const decoded = safeDecode(id);
    cases.push({
      name: `history of ${id}`,
      method: 'GET',
      path: `/api/messages?roomId=${id}`,
      ...(decoded.length > 128 || decoded.includes('\u0000') ? BAD : nf),
    });
  }
  for (const [name, id] of [
    ['init', '*'],
    ['init', 'a:b\n'],
  ] as const) {
    cases.push({
      name: `upload ${name} to room ${JSON.stringify(id)}`,
      method: 'POST',
      path: '/api/upload/init',
      body: json({ roomId: id, filename: 'a.png', mime: 'image/png', bytes: 10 }),
      headers: { 'content-type': 'application/json' },
      ...nf,
    });
  }
  return cases;
}

const safeDecode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

function historyCases(ctx: CorpusContext): RestCase[] {
  const q = (s: string) => `/api/messages?roomId=${ctx.roomId}&${s}`;
  const bad: Array<[string, string]> = [
    ['limit=0', q('limit=0')],
    ['limit=101', q('limit=101')],
    ['limit=-1', q('limit=-1')],
    ['limit=1.5', q('limit=1.5')],
    ['limit=abc', q('limit=abc')],
    ['limit empty', q('limit=')],
    ['limit=Infinity', q('limit=Infinity')],
    ['limit=NaN', q('limit=NaN')],
    ['beforeSeq=-1', q('beforeSeq=-1')],
    ['afterSeq=2^31', q(`afterSeq=${2 ** 31}`)],
    ['afterSeq=1e400', q('afterSeq=1e400')],
    ['beforeTs=yesterday', q('beforeTs=yesterday')],
    ['beforeTs=-5', q('beforeTs=-5')],
    ['two cursors', q('beforeSeq=5&afterSeq=1')],
    ['three cursors', q('beforeSeq=5&afterSeq=1&beforeTs=3')],
    ['unknown parameter', q('admin=1')],
    ['__proto__ parameter', q('__proto__=1')],
    ['constructor parameter', q('constructor=x')],
    ['no roomId', '/api/messages'],
    ['empty roomId', '/api/messages?roomId='],
    ['roomId of 129 chars', `/api/messages?roomId=${'r'.repeat(129)}`],
    ['roomId of 10000 chars', `/api/messages?roomId=${'r'.repeat(10_000)}`],
  ];
  return bad.map(([name, path]) => ({ name: `history: ${name}`, method: 'GET', path, ...BAD }));
}

function authHeaderCases(): RestCase[] {
  const routes: Array<[string, string]> = [
    ['GET', '/api/auth/me'],
    ['GET', '/api/rooms'],
    ['GET', '/api/messages?roomId=x'],
    ['POST', '/api/rooms'],
    ['POST', '/api/upload/init'],
  ];
  const headers: Array<[string, Record<string, string>]> = [
    ['no credentials', {}],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['bearer with two tokens', { authorization: 'Bearer a.b.c d.e.f' }],
    ['basic auth', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['bearer of 8 KiB', { authorization: `Bearer ${'a'.repeat(8192)}` }],
    ['junk cookie', { cookie: 'sid=%%%; other=1' }],
    ['cookie with a JSON value', { cookie: 'sid={"sub":"admin"}' }],
    ['three-part garbage token', { authorization: 'Bearer e30.e30.' }],
  ];
  const cases: RestCase[] = [];
  for (const [method, path] of routes) {
    for (const [name, h] of headers) {
      cases.push({
        name: `${method} ${path}: ${name}`,
        method,
        path,
        anonymous: true,
        headers: method === 'POST' ? { ...h, 'content-type': 'application/json' } : h,
        ...(method === 'POST' ? { body: '{}' } : {}),
        status: 401,
        code: 'unauthorized',
      });
    }
  }
  return cases;
}

function miscCases(): RestCase[] {
  const nf = { status: 404, code: 'not_found' };
  return [
    { name: 'unknown API path', method: 'GET', path: '/api/admin', ...nf },
    { name: 'path traversal', method: 'GET', path: '/api/../../etc/passwd', ...nf },
    { name: 'unknown method on rooms', method: 'PATCH', path: '/api/rooms', ...nf },
    { name: 'DELETE a whole room', method: 'DELETE', path: '/api/rooms/anything', ...nf },
    { name: 'remove another member', method: 'DELETE', path: '/api/rooms/anything/members/someone', ...nf },
    { name: 'GET on login', method: 'GET', path: '/api/auth/login', ...nf },
  ];
}

export function restCorpus(ctx: CorpusContext): RestCase[] {
  return [
    ...bodyRoutes(ctx).flatMap(bodyCases),
    ...idCases(),
    ...historyCases(ctx),
    ...authHeaderCases(),
    ...miscCases(),
  ];
}
