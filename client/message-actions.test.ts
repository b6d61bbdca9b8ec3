import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type TestWorld } from '../test/realtime-support.ts';
import { uniqueName } from '../test/support.ts';
import { ActionError, MessageActions, ParleyClient, type ChatSocket } from './index.ts';

/**
 * Changes refused by the rate limit (edits and deletes share the `message` windows) are sent
 * again after `retryAfterMs`, so a click right after a burst of sends is not lost.
 */

let world: TestWorld;
let socket: ChatSocket;
let roomId: string;

beforeAll(async () => {
  world = await startWorld({ RATE_LIMIT_MESSAGE_PER_SECOND: '2', RATE_LIMIT_MESSAGE_PER_10_SECONDS: '100' });
  const username = uniqueName('actions');
  const password = 'client library password';
  const client = new ParleyClient({ baseUrl: world.url });
  await client.auth.register(username, password);
  await client.auth.token(username, password);
  roomId = (await client.rooms.create('actions')).id;
  socket = client.connect({ transports: ['websocket'] });
  if (!socket.connected) await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const joined = await socket.timeout(5_000).emitWithAck('join', { roomId });
  expect(joined.ok).toBe(true);
}, 180_000);
afterAll(async () => {
  socket?.disconnect();
  await world?.close();
});

/** Sends until one is refused: the socket's one-second `message` window is then full. */
async function fillWindow(): Promise<string> {
  let sent: string | undefined;
  for (let i = 0; i < 10; i++) {
    const ack = await socket.timeout(5_000).emitWithAck('message', { roomId, text: `filler ${i}` });
    if (ack.ok) sent = ack.message.id;
    else if (ack.error.code === 'rate_limited' && sent) return sent;
  }
  throw new Error('the message limit was never reached');
}

describe('MessageActions under the rate limit', () => {
  it('sends a rate-limited delete again after retryAfterMs and resolves with the tombstone', async () => {
    const id = await fillWindow();
    const tombstone = await new MessageActions({ roomId, socket }).delete(id);
    expect(tombstone).toMatchObject({ id, text: '' });
    expect(tombstone.deletedAt).not.toBeNull();
  });

  it('gives up with rate_limited after its attempts', async () => {
    const id = await fillWindow();
    const refused = await new MessageActions({ roomId, socket, rateLimitAttempts: 1 })
      .edit(id, 'changed')
      .catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ActionError);
    expect((refused as ActionError).code).toBe('rate_limited');
    expect((refused as ActionError).retryAfterMs).toBeGreaterThan(0);
  });
});
