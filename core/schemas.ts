import { z } from 'zod';
import { isOneEmoji } from './messages/emoji.ts';

/**
 * The wire contract's shapes, defined once: REST validation, socket validation, the web
 * client and the tests all use these. Lengths count Unicode code points, not UTF-16 units.
 */

const codePoints = (s: string) => [...s].length;

/** Text Postgres can store and clients can render: well-formed UTF-16, no NUL. */
const safeText = z
  .string()
  .refine((s) => s.isWellFormed(), 'must be valid Unicode (no lone surrogates)')
  .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters');

const boundedText = (min: number, max: number) =>
  safeText.refine(
    (s) => {
      const n = codePoints(s);
      return n >= min && n <= max;
    },
    min > 0 ? `must be ${min}–${max} characters` : `must be at most ${max} characters`,
  );

// CONTROL: names never carry control characters (they would break logs and UIs).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

// Postgres cannot store or even compare text containing NUL: such a value must never reach a query.
const noNul = (s: string) => !s.includes('\u0000');

/** An opaque id from a client: any short string; one we never issued is simply not found. */
export const Id = z.string().min(1).max(128).refine(noNul, 'must not contain NUL characters');

export const Username = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]{3,32}$/, 'must be 3–32 of letters, digits, _ . -');
export const Password = boundedText(8, 256);
export const RoomName = safeText
  .trim()
  .pipe(boundedText(1, 80))
  .refine((s) => !CONTROL.test(s), 'must not contain control characters');

export const Credentials = z.strictObject({ username: Username, password: Password });
export type Credentials = z.infer<typeof Credentials>;
/** Login checks the shape only: a malformed username is a wrong username (401), not a 400. */
export const LoginBody = z.strictObject({ username: z.string().max(1024), password: z.string().max(4096) });
export type LoginBody = z.infer<typeof LoginBody>;

export const CreateRoomBody = z.strictObject({ name: RoomName });
export type CreateRoomBody = z.infer<typeof CreateRoomBody>;
export const AddMemberBody = z.strictObject({
  username: z.string().trim().min(1, 'must not be blank').max(256),
});
export type AddMemberBody = z.infer<typeof AddMemberBody>;
/** The other user of a direct room, by username (matched case-insensitively). */
export const OpenDirectBody = z.strictObject({
  username: z.string().trim().min(1, 'must not be blank').max(256),
});
export type OpenDirectBody = z.infer<typeof OpenDirectBody>;
export const RenameRoomBody = z.strictObject({ name: RoomName });
export type RenameRoomBody = z.infer<typeof RenameRoomBody>;

/**
 * An integer in a query string: plain decimal digits only. `Number()` would also take
 * `0x10`, `1e1`, ` 5` and an empty value (as 0), which the contract refuses.
 */
export const queryInteger = (min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]{1,16}$/, 'must be an integer written in decimal digits')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
const seqParam = queryInteger(0, 2 ** 31 - 1);
export const HistoryQuery = z
  .strictObject({
    roomId: Id,
    beforeTs: queryInteger(0, Number.MAX_SAFE_INTEGER).optional(),
    beforeSeq: seqParam.optional(),
    afterSeq: seqParam.optional(),
    limit: queryInteger(1, 100).default(50),
    changedAfter: seqParam.optional(),
  })
  .refine(
    (q) => [q.beforeTs, q.beforeSeq, q.afterSeq, q.changedAfter].filter((v) => v !== undefined).length <= 1,
    'use at most one of beforeTs, beforeSeq, afterSeq and changedAfter',
  );
export type HistoryQuery = z.infer<typeof HistoryQuery>;

/**
 * `GET /api/search`: `q` 1–200 code points (it must hold a word: core/search/query.ts), an
 * optional room, a page of 1–50 (default 20) and the opaque cursor of the previous page
 * (decoded, and refused when malformed, by core/search/cursor.ts).
 */
export const SearchQuery = z.strictObject({
  q: boundedText(1, 200),
  roomId: Id.optional(),
  limit: queryInteger(1, 50).default(20),
  cursor: z.string().min(1).max(512).optional(),
});
export type SearchQuery = z.infer<typeof SearchQuery>;

// Every control character, not just the first (a filename may carry CR, LF and NUL at once).
const CONTROL_ALL = new RegExp(CONTROL.source, 'g');
/** Path separators and control characters (NUL included) are removed, as the contract says; then 1–255 code points. */
export const Filename = z
  .string()
  .transform((s) => s.replace(/[/\\]/g, '').replace(CONTROL_ALL, '').trim())
  .pipe(boundedText(1, 255));
export const UploadInitBody = z.strictObject({
  roomId: Id,
  filename: z.string().pipe(Filename),
  mime: z
    .string()
    .max(255)
    .transform((m) => m.split(';')[0]!.trim().toLowerCase())
    .pipe(z.string().regex(/^[a-z0-9.+-]+\/[a-z0-9.+-]+$/, 'must be a media type such as image/png')),
  bytes: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});
export type UploadInitBody = z.infer<typeof UploadInitBody>;
export const UploadCompleteBody = z.strictObject({
  roomId: Id,
  key: z.string().min(1).max(1024).refine(noNul, 'must not contain NUL characters'),
});
export type UploadCompleteBody = z.infer<typeof UploadCompleteBody>;

export const ClientMsgId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1–64 of A-Z a-z 0-9 _ -');

// Socket payloads.
export const JoinPayload = z.strictObject({
  roomId: Id,
  sinceSeq: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional(),
  sinceVersion: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional(),
});
export type JoinPayload = z.infer<typeof JoinPayload>;
export const LeavePayload = z.strictObject({ roomId: Id });
export type LeavePayload = z.infer<typeof LeavePayload>;
export const MessagePayload = z
  .strictObject({
    roomId: Id,
    text: safeText
      .max(64 * 1024)
      .transform((s) => s.trim())
      .pipe(boundedText(0, 4000)),
    attachmentId: Id.optional(),
    clientMsgId: ClientMsgId.optional(),
    replyTo: Id.optional(),
  })
  .refine((m) => m.text.length > 0 || m.attachmentId !== undefined, {
    message: 'text must not be empty without an attachment',
    path: ['text'],
  });
export type MessagePayload = z.infer<typeof MessagePayload>;
export const TypingPayload = z.strictObject({ roomId: Id, typing: z.boolean() });
export type TypingPayload = z.infer<typeof TypingPayload>;
export const ReadPayload = z.strictObject({ roomId: Id, seq: z.number().int().min(0).max(2_147_483_647) });
export type ReadPayload = z.infer<typeof ReadPayload>;

// What the server sends.
export const User = z.object({ id: z.string(), username: z.string(), createdAt: z.string() });
export type User = z.infer<typeof User>;
export const RoomKind = z.enum(['group', 'direct']);
export type RoomKind = z.infer<typeof RoomKind>;
export const Room = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  lastSeq: z.number().int(),
  lastVersion: z.number().int(),
  kind: RoomKind,
  /** null for direct rooms. */
  ownerId: z.string().nullable(),
});
export type Room = z.infer<typeof Room>;
/** The newest message of a room, for room lists: `text` at most 200 code points. */
export const LastMessage = z.object({
  seq: z.number().int(),
  userId: z.string(),
  name: z.string(),
  text: z.string(),
  ts: z.number().int(),
});
export type LastMessage = z.infer<typeof LastMessage>;
/** A room as `GET /api/rooms` lists it: with the caller's read state. */
export const RoomListEntry = Room.extend({
  lastReadSeq: z.number().int(),
  /** Messages after the caller's marker, not sent by the caller, not deleted. */
  unread: z.number().int(),
  lastMessage: LastMessage.nullable(),
});
export type RoomListEntry = z.infer<typeof RoomListEntry>;
export const MemberRole = z.enum(['owner', 'member']);
export type MemberRole = z.infer<typeof MemberRole>;
export const Member = z.object({
  userId: z.string(),
  username: z.string(),
  joinedAt: z.string(),
  role: MemberRole,
  lastReadSeq: z.number().int(),
  /** Whether the user has a socket connected anywhere (any instance), not only in this room. */
  online: z.boolean(),
});
export type Member = z.infer<typeof Member>;
export const MessageAttachment = z.object({
  id: z.string(),
  mime: z.string(),
  bytes: z.number().int(),
  filename: z.string(),
  url: z.string(),
});
export type MessageAttachment = z.infer<typeof MessageAttachment>;
/** The parent of a reply as it is now: `text` its first 200 code points, "" once deleted. */
export const ReplyExcerpt = z.object({
  id: z.string(),
  seq: z.number().int(),
  userId: z.string(),
  name: z.string(),
  text: z.string(),
});
export type ReplyExcerpt = z.infer<typeof ReplyExcerpt>;
export const ReactionSummary = z.object({
  emoji: z.string(),
  count: z.number().int(),
  userIds: z.array(z.string()),
});
export type ReactionSummary = z.infer<typeof ReactionSummary>;
export const Message = z.object({
  id: z.string(),
  roomId: z.string(),
  seq: z.number().int(),
  userId: z.string(),
  name: z.string(),
  text: z.string(),
  ts: z.number().int(),
  clientMsgId: z.string().nullable(),
  attachment: MessageAttachment.nullable(),
  version: z.number().int(),
  editedAt: z.number().int().nullable(),
  deletedAt: z.number().int().nullable(),
  replyTo: ReplyExcerpt.nullable(),
  reactions: z.array(ReactionSummary),
});
export type Message = z.infer<typeof Message>;
export const Attachment = z.object({
  id: z.string(),
  roomId: z.string(),
  userId: z.string(),
  key: z.string(),
  mime: z.string(),
  bytes: z.number().int(),
  filename: z.string(),
  ts: z.number().int(),
  url: z.string(),
});
export type Attachment = z.infer<typeof Attachment>;
export const PresentUser = z.object({ id: z.string(), name: z.string() });
export type PresentUser = z.infer<typeof PresentUser>;
export const HistoryPage = z.object({ messages: z.array(Message), hasMore: z.boolean() });
export type HistoryPage = z.infer<typeof HistoryPage>;
/** Search results, newest first; `nextCursor` null on the last page. */
export const SearchPage = z.object({ messages: z.array(Message), nextCursor: z.string().nullable() });
export type SearchPage = z.infer<typeof SearchPage>;

// REST response bodies (the others are built in core/http/openapi.ts).
/** A native client's session: the token it keeps and sends as Bearer; `expiresAt` in epoch ms. */
export const TokenBody = z.object({ user: User, token: z.string(), expiresAt: z.number().int() });
export type TokenBody = z.infer<typeof TokenBody>;
/** Where and how to send an upload's bytes: a presigned POST form, or a presigned PUT. */
export const UploadTarget = z.discriminatedUnion('method', [
  z.object({
    key: z.string(),
    method: z.literal('POST'),
    url: z.string(),
    /** Every form field to send, in order, before the file (sent last, as `file`). */
    fields: z.record(z.string(), z.string()),
    expiresAt: z.number().int(),
  }),
  z.object({
    key: z.string(),
    method: z.literal('PUT'),
    url: z.string(),
    /** Exactly the headers to send with the body. */
    headers: z.record(z.string(), z.string()),
    expiresAt: z.number().int(),
  }),
]);
export type UploadTarget = z.infer<typeof UploadTarget>;
// Part 2: changes to messages (edit, delete, react). Text rules as for `message`.
const messageText = safeText
  .max(64 * 1024)
  .transform((s) => s.trim())
  .pipe(boundedText(0, 4000));
export const EditPayload = z.strictObject({ roomId: Id, messageId: Id, text: messageText });
export type EditPayload = z.infer<typeof EditPayload>;
export const DeletePayload = z.strictObject({ roomId: Id, messageId: Id });
export type DeletePayload = z.infer<typeof DeletePayload>;
export const ReactPayload = z.strictObject({
  roomId: Id,
  messageId: Id,
  // 64 UTF-16 units is far above the longest emoji sequence; the check itself is in core/messages/emoji.ts.
  emoji: z.string().max(64).refine(isOneEmoji, 'must be exactly one emoji'),
  on: z.boolean(),
});
export type ReactPayload = z.infer<typeof ReactPayload>;
