import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openSocket,
  startWorld,
  type ChatClient,
  type TestUser,
  type TestWorld,
} from '../realtime-support.ts';
import { report } from './support/figures.ts';

/**
 * The socket half of the hostile-input corpus, every event × every kind of malformed
 * payload, run round after round against one server: every case gets the contract's error
 * ack (or is dropped), the server never crashes, and its heap after the rounds is back near
 * where it was after the first.
 */
let world: TestWorld;
let alice: TestUser;
let roomId: string;
let a: ChatClient;

interface SocketCase {
  name: string;
  event: string;
  args: unknown[];
  /** The ack's error code, `ok` for a success, or undefined when the case sends no ack. */
  expect: string | undefined;
}

const deep = (n: number): unknown => {
  let v: unknown = 'x';
  for (let i = 0; i < n; i++) v = [v];
  return v;
};

function corpus(room: string): SocketCase[] {
  const valid: Record<string, Record<string, unknown>> = {
    join: { roomId: room, sinceSeq: 0 },
    leave: { roomId: room },
    message: { roomId: room, text: 'hello', clientMsgId: 'abc' },
    typing: { roomId: room, typing: true },
    edit: { roomId: room, messageId: 'no-such-message', text: 'hello' },
    delete: { roomId: room, messageId: 'no-such-message' },
    react: { roomId: room, messageId: 'no-such-message', emoji: '👍', on: true },
  };
  const cases: SocketCase[] = [];
  const bad = 'invalid_request';
  for (const [event, base] of Object.entries(valid)) {
    const add = (name: string, payload: unknown, expected = bad) =>
      cases.push({ name: `${event}: ${name}`, event, args: [payload], expect: expected });
    for (const [name, payload] of [
      ['undefined', undefined],
      ['null', null],
      ['zero', 0],
      ['NaN', Number.NaN],
      ['a string', 'hello'],
      ['true', true],
      ['an empty array', []],
      ['the payload in an array', [base]],
      ['binary', Buffer.from('binary where an object belongs')],
      ['an empty object', {}],
      ['1000-deep array', deep(1000)],
    ] as const) {
      add(name, payload);
    }
    add('extra field', { ...base, extra: 1 });
    add('__proto__ key', JSON.parse(`{"__proto__":{"admin":true},${JSON.stringify(base).slice(1)}`));
    add('constructor key', { ...base, constructor: { prototype: { polluted: true } } });
    add('nested object as value', { ...base, roomId: { $ne: '' } });
    for (const key of Object.keys(base)) {
      const { [key]: _drop, ...missing } = base;
      const optional = key === 'sinceSeq' || key === 'clientMsgId';
      add(`missing ${key}`, missing, optional ? (event === 'join' || event === 'message' ? 'ok' : bad) : bad);
      for (const [kind, wrong] of [
        ['null', null],
        ['number', 7],
        ['array', ['x']],
        ['object', { a: 1 }],
        ['binary', Buffer.from('bytes')],
      ] as const) {
        if (kind === 'number' && key === 'sinceSeq') continue;
        add(`${key} as ${kind}`, { ...base, [key]: wrong });
      }
    }
    // Ill-formed strings where ids and text belong.
    add('roomId with NUL', { ...base, roomId: 'a\u0000b' });
    add('roomId empty', { ...base, roomId: '' });
    add('roomId of 10000 chars', { ...base, roomId: 'r'.repeat(10_000) });
    // Well-formed ids that name no room the caller belongs to: forbidden (join, message,
    // typing) or simply done (leave).
    for (const id of [
      '*',
      '{}',
      'a:b',
      'room:1',
      'a\nb',
      '../x',
      '__proto__',
      '\ud800',
      ' ',
      '%00',
      "' OR 1=1 --",
      'r'.repeat(128),
    ]) {
      add(
        `roomId ${JSON.stringify(id).slice(0, 20)}`,
        { ...base, roomId: id },
        event === 'leave' ? 'ok' : 'forbidden',
      );
    }
    // Events without an ack, with a non-function "ack", and with extra arguments.
    cases.push({
      name: `${event}: no ack`,
      event,
      args: [{ ...base, roomId: 'nowhere' }],
      expect: undefined,
    });
    cases.push({
      name: `${event}: non-function last argument`,
      event,
      args: [{ ...base, roomId: 'nowhere' }, 'not a function'],
      expect: undefined,
    });
    cases.push({
      name: `${event}: many arguments`,
      event,
      args: [{ ...base, roomId: 'nowhere' }, 1, 2, 3, { x: 1 }],
      expect: undefined,
    });
  }
  const m = valid.message!;
  for (const [name, payload, expected] of [
    ['text of 4001 code points', { ...m, text: 'é'.repeat(4001) }, bad],
    ['text of 60 KB', { ...m, text: 'x'.repeat(60_000) }, bad],
    ['text only spaces', { ...m, text: '   \n\t ' }, bad],
    ['text with NUL', { ...m, text: 'a\u0000b' }, bad],
    ['text with a lone surrogate', { ...m, text: 'a\ud800b' }, bad],
    ['text as binary', { ...m, text: Buffer.from('bytes') }, bad],
    ['clientMsgId with a colon', { ...m, clientMsgId: 'a:b' }, bad],
    ['clientMsgId of 65 chars', { ...m, clientMsgId: 'c'.repeat(65) }, bad],
    ['clientMsgId with a newline', { ...m, clientMsgId: 'a\nb' }, bad],
    ['clientMsgId empty', { ...m, clientMsgId: '' }, bad],
    ['attachmentId unknown', { ...m, attachmentId: 'nope' }, 'attachment_invalid'],
    ['attachmentId with *', { ...m, attachmentId: '*' }, 'attachment_invalid'],
    ['sinceSeq on a message', { ...m, sinceSeq: 1 }, bad],
  ] as const) {
    cases.push({ name: `message: ${name}`, event: 'message', args: [payload], expect: expected });
  }
  for (const [name, payload] of [
    ['sinceSeq negative', { roomId: room, sinceSeq: -1 }],
    ['sinceSeq fractional', { roomId: room, sinceSeq: 1.5 }],
    ['sinceSeq as a string', { roomId: room, sinceSeq: '3' }],
    ['sinceSeq 2^31', { roomId: room, sinceSeq: 2 ** 31 }],
    ['sinceSeq Infinity (sent as null)', { roomId: room, sinceSeq: Infinity }],
  ] as const) {
    cases.push({ name: `join: ${name}`, event: 'join', args: [payload], expect: bad });
  }
  cases.push({
    name: 'typing: typing as "true"',
    event: 'typing',
    args: [{ roomId: room, typing: 'true' }],
    expect: bad,
  });
  // Changes: well-formed but naming no message of the room → not_found; hostile values → invalid_request.
  for (const event of ['edit', 'delete', 'react']) {
    const base = valid[event]!;
    cases.push({ name: `${event}: unknown message`, event, args: [base], expect: 'not_found' });
    for (const id of ['*', '\ud800', "' OR 1=1 --", 'r'.repeat(128), '__proto__']) {
      cases.push({
        name: `${event}: messageId ${JSON.stringify(id).slice(0, 20)}`,
        event,
        args: [{ ...base, messageId: id }],
        expect: 'not_found',
      });
    }
    cases.push({
      name: `${event}: messageId of 10000 chars`,
      event,
      args: [{ ...base, messageId: 'm'.repeat(10_000) }],
      expect: bad,
    });
    cases.push({
      name: `${event}: messageId with NUL`,
      event,
      args: [{ ...base, messageId: 'a\u0000b' }],
      expect: bad,
    });
  }
  for (const [name, payload] of [
    ['text of 4001 code points', { ...valid.edit!, text: 'é'.repeat(4001) }],
    ['text with NUL', { ...valid.edit!, text: 'a\u0000b' }],
    ['text with a lone surrogate', { ...valid.edit!, text: 'a\ud800b' }],
  ] as const) {
    cases.push({ name: `edit: ${name}`, event: 'edit', args: [payload], expect: bad });
  }
  // Empty text is a valid shape (a message with an attachment may lose its text): the message decides.
  cases.push({
    name: 'edit: text only spaces',
    event: 'edit',
    args: [{ ...valid.edit!, text: '   ' }],
    expect: 'not_found',
  });
  for (const emoji of [
    '',
    ' ',
    'a',
    '👍👍',
    '👍 ',
    ':+1:',
    '\u200d',
    '\ud83d',
    '🇫',
    'x'.repeat(10_000),
    '<img src=x>',
  ]) {
    cases.push({
      name: `react: emoji ${JSON.stringify(emoji).slice(0, 20)}`,
      event: 'react',
      args: [{ ...valid.react!, emoji }],
      expect: bad,
    });
  }
  cases.push({
    name: 'react: on as "true"',
    event: 'react',
    args: [{ ...valid.react!, on: 'true' }],
    expect: bad,
  });
  cases.push({
    name: 'join: sinceVersion negative',
    event: 'join',
    args: [{ roomId: room, sinceVersion: -1 }],
    expect: bad,
  });
  cases.push({
    name: 'join: sinceVersion as a string',
    event: 'join',
    args: [{ roomId: room, sinceVersion: '3' }],
    expect: bad,
  });
  cases.push({
    name: 'message: replyTo unknown',
    event: 'message',
    args: [{ ...m, clientMsgId: 'reply-x', replyTo: 'nope' }],
    expect: 'reply_invalid',
  });
  cases.push({
    name: 'message: replyTo as object',
    event: 'message',
    args: [{ ...m, replyTo: { id: 'x' } }],
    expect: bad,
  });
  for (const event of [
    'no-such-event',
    'error',
    '__proto__',
    'constructor',
    'toString',
    'presence',
    'message '.repeat(100),
  ]) {
    cases.push({
      name: `unknown event ${event.slice(0, 20)}`,
      event,
      args: [{ roomId: room }],
      expect: undefined,
    });
    // With an ack, the contract's answer to a name the server does not know.
    cases.push({
      name: `unknown event ${event.slice(0, 20)} with an ack`,
      event,
      args: [{ roomId: room }],
      expect: bad,
    });
  }
  return cases;
}

async function run(cases: SocketCase[], client: ChatClient): Promise<string[]> {
  const failures: string[] = [];
  for (const c of cases) {
    // Joined before every case, so `message` and `typing` reach their checks past not_joined.
    if (c.expect !== undefined) {
      const ack = (await client.raw
        .timeout(5_000)
        .emitWithAck(c.event, ...c.args)
        .catch((e: Error) => ({ timeout: e.message }))) as {
        ok?: boolean;
        error?: { code: string; message: string };
        timeout?: string;
      };
      const got = ack.ok ? 'ok' : (ack.error?.code ?? `no answer (${ack.timeout})`);
      if (got !== c.expect)
        failures.push(`${c.name}: expected ${c.expect}, got ${JSON.stringify(ack).slice(0, 200)}`);
      if (
        ack.ok === false &&
        (typeof ack.error?.message !== 'string' || /at \w+ \(|\.ts:\d+|prisma/i.test(ack.error.message))
      ) {
        failures.push(`${c.name}: error leaks detail: ${ack.error?.message}`);
      }
      if (c.event === 'leave' && c.expect === 'ok') await client.joined(roomId);
    } else {
      client.raw.emit(c.event, ...c.args);
    }
  }
  return failures;
}

const heapAfterGc = () => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
};

beforeAll(async () => {
  // Generous limits: this is about malformed input, not throttling.
  // Join, leave and unknown names too: every event spends from a budget (realtime/event-budget.ts).
  const generous = Object.fromEntries(
    ['MESSAGE', 'TYPING', 'JOIN', 'LEAVE', 'UNKNOWN_EVENT', 'REACT'].flatMap((k) => [
      [`RATE_LIMIT_${k}_PER_SECOND`, '100000'],
      [`RATE_LIMIT_${k}_PER_10_SECONDS`, '1000000'],
    ]),
  );
  world = await startWorld(generous);
  alice = await world.user('hostile');
  roomId = (await world.room(alice)).id;
  a = await alice.connect();
  await a.joined(roomId);
});

afterAll(async () => {
  a?.close();
  await world?.close();
});

describe('hostile socket input', () => {
  it('answers every case with the contract error, round after round, and the heap returns near its baseline', async () => {
    const cases = corpus(roomId);
    expect(cases.length).toBeGreaterThanOrEqual(200);
    expect(
      (globalThis as { gc?: unknown }).gc,
      'run with --expose-gc (test/resilience/vitest.config.ts)',
    ).toBeTypeOf('function');
    expect(await run(cases, a)).toEqual([]);
    const baseline = heapAfterGc();
    const ROUNDS = 5;
    for (let i = 0; i < ROUNDS; i++) expect(await run(cases, a)).toEqual([]);
    await a.joined(roomId);
    const after = heapAfterGc();
    const growthMb = (after - baseline) / 2 ** 20;
    report('hostile-socket', {
      cases: cases.length,
      rounds: ROUNDS + 1,
      heapBaselineMb: +(baseline / 2 ** 20).toFixed(1),
      heapAfterMb: +(after / 2 ** 20).toFixed(1),
      growthMb: +growthMb.toFixed(2),
    });
    expect(growthMb).toBeLessThan(15);
    expect(({} as { polluted?: unknown; admin?: unknown }).polluted).toBeUndefined();
    expect(({} as { admin?: unknown }).admin).toBeUndefined();
  });

  it('survives malformed Socket.IO packets (reserved events, broken JSON, false binary claims, stray acks)', async () => {
    // Socket.IO packets as the engine carries them (type digit, optional attachments/ack id, JSON).
    const packets = [
      '2["connect",{}]',
      '2["disconnect"]',
      '2["disconnecting",{}]',
      '2["newListener","message"]',
      '2[',
      '2{}',
      '2[]',
      '2[null]',
      '2[42]',
      '2["message",{"roomId":"x","text":"y"},{"not":"a function"}]',
      '27["join",{"roomId":"x"}]',
      '2-1["join",{"roomId":"x"}]',
      '3[]',
      '39999999[{"ok":true}]',
      '51-["message",{"_placeholder":true,"num":0}]',
      '51-["message",{"_placeholder":true,"num":7}]',
      '59999999-["message",{}]',
      '2' + '9'.repeat(400),
      '0/admin,',
      '1',
      '4',
      '9',
      '',
      '\u0000',
    ];
    let dropped = 0;
    for (const packet of packets) {
      const victim = await alice.connect();
      const gone = victim.disconnected();
      (victim.raw.io.engine as unknown as { write(data: string): void }).write(packet);
      // Either the server drops the connection or it ignores the packet; both are fine.
      const outcome = await Promise.race([
        gone.then(() => 'dropped'),
        victim.raw
          .timeout(2_000)
          .emitWithAck('leave', { roomId: 'x' })
          .then(
            () => 'alive',
            () => 'silent',
          ),
      ]);
      if (outcome === 'dropped') dropped++;
      victim.close();
    }
    report('hostile-socket-packets', { packets: packets.length, dropped });
    expect((await a.sent(roomId, 'after raw packets')).text).toBe('after raw packets');
    expect((await fetch(`${world.url}/healthz`)).status).toBe(200);
  });

  it('drops a connection sending a frame over 64 KiB (and binary over it), and keeps serving others', async () => {
    for (const payload of [
      { roomId, text: 'x'.repeat(70 * 1024) },
      { roomId, text: Buffer.alloc(70 * 1024) },
    ]) {
      const big = await alice.connect();
      const gone = big.disconnected();
      big.raw.emit('message', payload);
      expect(await gone).toBe('transport close');
    }
    expect((await a.sent(roomId, 'still here')).text).toBe('still here');
    const fresh = await openSocket(world.url, { token: alice.token });
    await fresh.joined(roomId);
    fresh.close();
  });
});
