import { describe, expect, it } from 'vitest';
import type { JoinResult } from '../core/events.ts';
import type { Message, Room } from '../core/schemas.ts';
import type { EventHandler } from './handlers.ts';

/**
 * The handlers are typed from the published event contract: `tsc` (npm run typecheck) fails
 * if a wrong ack compiles, because each `@ts-expect-error` below would then be unused.
 */
declare const room: Room;
declare const message: Message;
declare const joined: JoinResult;

describe('socket handlers are typed from ClientToServerEvents', () => {
  it('accepts the acks the contract declares', async () => {
    const join: EventHandler<'join'> = async ({ roomId, sinceSeq }) => ({
      ...joined,
      room: { ...room, id: roomId, lastSeq: sinceSeq ?? 0 },
    });
    const send: EventHandler<'message'> = async ({ text }) => ({ message: { ...message, text } });
    const leave: EventHandler<'leave'> = async () => ({});
    expect([join, send, leave]).toHaveLength(3);
  });

  it('refuses wrong acks and wrong payload fields at compile time', () => {
    // @ts-expect-error join must answer room, users, messages and hasMore
    const partialJoin: EventHandler<'join'> = async () => ({ room });
    // @ts-expect-error message answers {message}, not the bare message
    const bareMessage: EventHandler<'message'> = async () => message;
    // @ts-expect-error typing payloads have no text
    const wrongPayload: EventHandler<'typing'> = async ({ text }) => ({ text });
    expect([partialJoin, bareMessage, wrongPayload]).toHaveLength(3);
  });
});
