import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ZodType } from 'zod';
import { isOneEmoji } from '../../core/messages/emoji.ts';
import {
  AddMemberBody,
  CreateRoomBody,
  Credentials,
  DeletePayload,
  EditPayload,
  HistoryQuery,
  JoinPayload,
  LeavePayload,
  LoginBody,
  MessagePayload,
  ReactPayload,
  TypingPayload,
  UploadCompleteBody,
  UploadInitBody,
} from '../../core/schemas.ts';

/**
 * Property-based fuzzing of every wire schema: no input makes a schema throw, and whatever
 * a schema accepts is something the rest of the server can trust (known keys only, text
 * Postgres can store, lengths within the contract).
 */
const RUNS = 400;
const codePoints = (s: string) => [...s].length;
const storable = (s: string) => s.isWellFormed() && !s.includes('\u0000');
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Anything JSON.parse or a Socket.IO decoder could hand us, including prototype keys. */
const hostileValue = fc.oneof(
  fc.anything({ withBoxedValues: false, withNullPrototype: true, withObjectString: true, maxDepth: 4 }),
  fc.jsonValue({ maxDepth: 4 }),
  fc.string({ unit: 'binary' }).map((s) => ({ roomId: s, text: s, typing: s, name: s, username: s })),
  fc.constantFrom(
    JSON.parse('{"__proto__":{"roomId":"r","text":"x"}}') as unknown,
    JSON.parse('{"constructor":{"prototype":{"admin":true}}}') as unknown,
    Object.create({ roomId: 'inherited', text: 'inherited', typing: true }) as unknown,
  ),
);

interface SchemaSpec {
  name: string;
  schema: ZodType;
  keys: string[];
  valid: fc.Arbitrary<Record<string, unknown>>;
  /** What any accepted value must satisfy beyond its keys. */
  check?: (v: Record<string, unknown>) => void;
}

const id = fc.string({ minLength: 1, maxLength: 64, unit: 'grapheme-ascii' });
const wellFormed = (min: number, max: number) =>
  fc.string({ minLength: min, maxLength: max, unit: 'grapheme' }).filter((s) => storable(s));

const specs: SchemaSpec[] = [
  {
    name: 'JoinPayload',
    schema: JoinPayload,
    keys: ['roomId', 'sinceSeq', 'sinceVersion'],
    valid: fc.record(
      {
        roomId: id,
        sinceSeq: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        sinceVersion: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      },
      { requiredKeys: ['roomId'] },
    ),
    check: (v) => {
      expect(storable(v.roomId as string)).toBe(true);
      if (v.sinceSeq !== undefined) expect(Number.isSafeInteger(v.sinceSeq)).toBe(true);
    },
  },
  {
    name: 'LeavePayload',
    schema: LeavePayload,
    keys: ['roomId'],
    valid: fc.record({ roomId: id }),
  },
  {
    name: 'MessagePayload',
    schema: MessagePayload,
    keys: ['roomId', 'text', 'attachmentId', 'clientMsgId', 'replyTo'],
    valid: fc.record(
      {
        roomId: id,
        text: wellFormed(1, 200).filter((s) => s.trim().length > 0),
        clientMsgId: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
        replyTo: id,
      },
      { requiredKeys: ['roomId', 'text'] },
    ),
    check: (v) => {
      const text = v.text as string;
      expect(storable(text)).toBe(true);
      expect(codePoints(text)).toBeLessThanOrEqual(4000);
      expect(text).toBe(text.trim());
      expect(text.length > 0 || v.attachmentId !== undefined).toBe(true);
      if (v.clientMsgId !== undefined) expect(v.clientMsgId).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    },
  },
  {
    name: 'TypingPayload',
    schema: TypingPayload,
    keys: ['roomId', 'typing'],
    valid: fc.record({ roomId: id, typing: fc.boolean() }),
    check: (v) => expect(typeof v.typing).toBe('boolean'),
  },
  {
    name: 'EditPayload',
    schema: EditPayload,
    keys: ['roomId', 'messageId', 'text'],
    valid: fc.record({ roomId: id, messageId: id, text: wellFormed(0, 200) }),
    check: (v) => {
      const text = v.text as string;
      expect(storable(text)).toBe(true);
      expect(codePoints(text)).toBeLessThanOrEqual(4000);
      expect(text).toBe(text.trim());
      expect(storable(v.messageId as string)).toBe(true);
    },
  },
  {
    name: 'DeletePayload',
    schema: DeletePayload,
    keys: ['roomId', 'messageId'],
    valid: fc.record({ roomId: id, messageId: id }),
  },
  {
    name: 'ReactPayload',
    schema: ReactPayload,
    keys: ['roomId', 'messageId', 'emoji', 'on'],
    valid: fc.record({
      roomId: id,
      messageId: id,
      emoji: fc.constantFrom('👍', '❤️', '👩‍💻', '🇫🇷', '1️⃣', '👍🏽'),
      on: fc.boolean(),
    }),
    check: (v) => {
      expect(isOneEmoji(v.emoji as string)).toBe(true);
      expect(storable(v.emoji as string)).toBe(true);
      expect(typeof v.on).toBe('boolean');
    },
  },
  {
    name: 'Credentials',
    schema: Credentials,
    keys: ['username', 'password'],
    valid: fc.record({ username: fc.stringMatching(/^[A-Za-z0-9_.-]{3,32}$/), password: wellFormed(8, 64) }),
    check: (v) => {
      expect(v.username).toMatch(/^[A-Za-z0-9_.-]{3,32}$/);
      expect(storable(v.password as string)).toBe(true);
    },
  },
  {
    name: 'LoginBody',
    schema: LoginBody,
    keys: ['username', 'password'],
    valid: fc.record({ username: fc.string({ maxLength: 40 }), password: fc.string({ maxLength: 40 }) }),
  },
  {
    name: 'CreateRoomBody',
    schema: CreateRoomBody,
    keys: ['name'],
    valid: fc.record({ name: wellFormed(1, 80).filter((s) => s.trim().length > 0 && !CONTROL.test(s)) }),
    check: (v) => {
      const name = v.name as string;
      expect(storable(name)).toBe(true);
      expect(name).toBe(name.trim());
      expect(codePoints(name)).toBeGreaterThanOrEqual(1);
      expect(codePoints(name)).toBeLessThanOrEqual(80);
      expect(name).not.toMatch(CONTROL);
    },
  },
  {
    name: 'AddMemberBody',
    schema: AddMemberBody,
    keys: ['username'],
    valid: fc.record({ username: fc.stringMatching(/^[A-Za-z0-9_.-]{3,32}$/) }),
  },
  {
    name: 'UploadInitBody',
    schema: UploadInitBody,
    keys: ['roomId', 'filename', 'mime', 'bytes'],
    valid: fc.record({
      roomId: id,
      filename: fc.stringMatching(/^[A-Za-z0-9_. -]{0,40}[A-Za-z0-9]$/),
      mime: fc.constantFrom('image/png', 'application/pdf', 'Text/Plain; charset=utf-8'),
      bytes: fc.integer({ min: 1, max: 2 ** 40 }),
    }),
    check: (v) => {
      const filename = v.filename as string;
      expect(storable(filename)).toBe(true);
      expect(filename).not.toMatch(CONTROL);
      expect(filename).not.toMatch(/[/\\]/);
      expect(codePoints(filename)).toBeGreaterThanOrEqual(1);
      expect(codePoints(filename)).toBeLessThanOrEqual(255);
      expect(v.mime).toMatch(/^[a-z0-9.+-]+\/[a-z0-9.+-]+$/);
      expect(Number.isSafeInteger(v.bytes) && (v.bytes as number) >= 1).toBe(true);
    },
  },
  {
    name: 'UploadCompleteBody',
    schema: UploadCompleteBody,
    keys: ['roomId', 'key'],
    valid: fc.record({
      roomId: id,
      key: fc.string({ minLength: 1, maxLength: 200, unit: 'grapheme-ascii' }),
    }),
  },
];

describe.each(specs)('$name', ({ schema, keys, valid, check }) => {
  const accepted = (out: unknown) => {
    expect(typeof out).toBe('object');
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    for (const k of Object.keys(out as object)) expect(keys).toContain(k);
    for (const k of keys) {
      const v = (out as Record<string, unknown>)[k];
      if (typeof v === 'string')
        expect(v.includes('\u0000') && k !== 'password' && k !== 'username').toBe(false);
    }
    check?.(out as Record<string, unknown>);
  };

  it('never throws on hostile input, and whatever it accepts is safe', () => {
    fc.assert(
      fc.property(hostileValue, (input) => {
        const result = schema.safeParse(input);
        if (result.success) accepted(result.data);
      }),
      { numRuns: RUNS },
    );
  });

  it('accepts well-formed payloads', () => {
    fc.assert(
      fc.property(valid, (input) => {
        const result = schema.safeParse(input);
        expect(result.success, JSON.stringify(input)).toBe(true);
        if (result.success) accepted(result.data);
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses a well-formed payload with any unknown key, prototype keys included', () => {
    const extraKey = fc.oneof(
      fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !keys.includes(k)),
      fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'),
    );
    fc.assert(
      fc.property(valid, extraKey, fc.jsonValue({ maxDepth: 2 }), (input, key, value) => {
        // JSON.parse makes "__proto__" an own key, exactly as a hostile client's body would.
        const hostile = JSON.parse(
          `{${JSON.stringify(key)}:${JSON.stringify(value) ?? 'null'},${JSON.stringify(input).slice(1)}`,
        ) as unknown;
        expect(schema.safeParse(hostile).success).toBe(false);
      }),
      { numRuns: RUNS / 2 },
    );
  });

  it('refuses each required field missing or of the wrong type', () => {
    fc.assert(
      fc.property(
        valid,
        fc.constantFrom(...keys),
        fc.oneof(fc.constant(undefined), fc.constant(null), fc.array(fc.nat()), fc.object()),
        (input, key, wrong) => {
          if (!(key in input)) return;
          const broken = { ...input, [key]: wrong };
          if (wrong === undefined) delete broken[key];
          const result = schema.safeParse(broken);
          // Only optional fields may go missing.
          if (result.success) {
            expect(wrong).toBeUndefined();
            expect(['sinceSeq', 'sinceVersion', 'attachmentId', 'clientMsgId', 'replyTo']).toContain(key);
          }
        },
      ),
      { numRuns: RUNS / 2 },
    );
  });
});

describe('HistoryQuery', () => {
  const param = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.integer().map(String),
    fc.integer({ min: 0, max: 200 }).map(String),
    fc.double().map(String),
    fc.constant(''),
  );
  it('never throws on any query string, and accepts at most one cursor with limit 1–100', () => {
    let accepted = 0;
    fc.assert(
      fc.property(
        // Half the queries name a room, so the property is exercised on accepted queries too.
        fc.record({ roomId: fc.string({ minLength: 1, maxLength: 12 }) }, { requiredKeys: [] }),
        fc.dictionary(
          fc.constantFrom('roomId', 'limit', 'beforeSeq', 'afterSeq', 'beforeTs', 'other', '__proto__'),
          param,
          { maxKeys: 3 },
        ),
        (named, rest) => {
          const query = { ...rest, ...named };
          const result = HistoryQuery.safeParse(query);
          if (!result.success) return;
          accepted += 1;
          const q = result.data;
          expect(Number.isInteger(q.limit) && q.limit >= 1 && q.limit <= 100).toBe(true);
          expect(
            [q.beforeSeq, q.afterSeq, q.beforeTs].filter((v) => v !== undefined).length,
          ).toBeLessThanOrEqual(1);
          for (const [key, v] of [
            ['beforeSeq', q.beforeSeq],
            ['afterSeq', q.afterSeq],
            ['beforeTs', q.beforeTs],
            ['limit', q.limit],
          ] as const) {
            if (v === undefined) continue;
            expect(Number.isSafeInteger(v) && v >= 0).toBe(true);
            // Integers only, in decimal digits: what was accepted is the number that was sent.
            const sent = (query as Record<string, unknown>)[key];
            if (sent === undefined) continue;
            expect(sent).toMatch(/^[0-9]+$/);
            expect(Number(sent)).toBe(v);
          }
          expect(storable(q.roomId)).toBe(true);
        },
      ),
      { numRuns: RUNS },
    );
    // A property that held only because nothing was accepted would prove nothing.
    expect(accepted).toBeGreaterThan(RUNS / 10);
  });
});
