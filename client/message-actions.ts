import type { Ack } from '../core/events.ts';
import type { Message } from '../core/schemas.ts';
import type { ChatSocket } from './socket.ts';

/** Why a change was refused, for the user; `code` is the contract's. */
export class ActionError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export interface MessageActionsDeps {
  roomId: string;
  socket: ChatSocket;
  /** Where the acked state goes (RoomSync.applyChanges), so the change shows before the broadcast. */
  onChanged?(message: Message): void;
  ackTimeoutMs?: number;
  /** Attempts of a change refused `rate_limited` before its ActionError is thrown (default 4). */
  rateLimitAttempts?: number;
}

/** The longest wait for a rate limit before trying again; a longer one is the caller's to show. */
const MAX_RATE_LIMIT_WAIT_MS = 10_000;

/**
 * Changes to messages of one room: `edit`, `delete`, `react` (typed by core/events.ts).
 * Each resolves with the message as the commit left it, or throws ActionError (no answer in
 * time: code `timeout`). They are idempotent on the server, so retrying one is safe: a change
 * refused `rate_limited` is sent again after `retryAfterMs` (edits and deletes share the
 * `message` limit, so a burst of sends can hold them back for a moment).
 * Replies are sent through the Outbox (`add(text, attachment, { replyTo })`).
 */
export class MessageActions {
  constructor(private readonly deps: MessageActionsDeps) {}

  edit(messageId: string, text: string): Promise<Message> {
    return this.settle(() =>
      this.socket().emitWithAck('edit', { roomId: this.deps.roomId, messageId, text }),
    );
  }

  delete(messageId: string): Promise<Message> {
    return this.settle(() => this.socket().emitWithAck('delete', { roomId: this.deps.roomId, messageId }));
  }

  react(messageId: string, emoji: string, on: boolean): Promise<Message> {
    return this.settle(() =>
      this.socket().emitWithAck('react', { roomId: this.deps.roomId, messageId, emoji, on }),
    );
  }

  private socket() {
    return this.deps.socket.timeout(this.deps.ackTimeoutMs ?? 10_000);
  }

  private async settle(call: () => Promise<Ack<{ message: Message }>>): Promise<Message> {
    const attempts = this.deps.rateLimitAttempts ?? 4;
    for (let attempt = 1; ; attempt++) {
      if (!this.deps.socket.connected) throw new ActionError('offline', 'Not connected');
      let ack: Ack<{ message: Message }>;
      try {
        ack = await call();
      } catch {
        throw new ActionError('timeout', 'No answer from the server');
      }
      if (ack.ok) {
        this.deps.onChanged?.(ack.message);
        return ack.message;
      }
      const { code, message, retryAfterMs } = ack.error;
      const wait = retryAfterMs ?? 0;
      if (code !== 'rate_limited' || attempt >= attempts || wait > MAX_RATE_LIMIT_WAIT_MS) {
        throw new ActionError(code, message, retryAfterMs);
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
