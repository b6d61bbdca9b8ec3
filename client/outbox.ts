import type { Ack } from '../core/events.ts';
import type { Attachment, Message, MessageAttachment, MessagePayload } from '../core/schemas.ts';

/** A message of ours the server has not confirmed yet. */
export interface PendingMessage {
  readonly clientMsgId: string;
  readonly text: string;
  readonly attachment: MessageAttachment | null;
  /** The message it answers (`replyTo`), if any. */
  readonly replyTo?: string;
  state: 'sending' | 'failed';
  /** Why it failed, for the user (state `failed`). */
  reason?: string;
}

export interface OutboxDeps {
  roomId: string;
  /** The sender: only its messages settle pending ones. */
  me: { id: string };
  /** Sends may go out now: connected and the room joined. */
  canSend(): boolean;
  connected(): boolean;
  /** Emits `message` and resolves with the ack; rejects when none comes in time. */
  emit(payload: MessagePayload): Promise<Ack<{ message: Message }>>;
  /** The server stored a message of ours (from its ack). */
  onCommitted(message: Message): void;
  /** The server says the socket is not in the room: join again (which flushes). */
  onNotJoined(): void;
  /** A pending message appeared, changed state, or left (confirmed or discarded). */
  onChange?(message: PendingMessage, change: 'added' | 'state' | 'removed'): void;
  /** A fresh clientMsgId (default: 22 random base64url characters). */
  newClientMsgId?: () => string;
}

interface Entry extends PendingMessage {
  inFlight: boolean;
  retryTimer?: ReturnType<typeof setTimeout>;
}

/**
 * Own messages until the server has them: each gets a random clientMsgId and is re-sent
 * with the same id after a reconnect (flush after the join) or a rate-limit wait, so the
 * server stores it at most once. The stored message, from the ack or its broadcast
 * (whichever comes first, see `settle`), replaces the pending one.
 */
export class Outbox {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly deps: OutboxDeps) {}

  /** Messages waiting for the server, in sending order. */
  get pending(): readonly PendingMessage[] {
    return [...this.entries.values()];
  }

  add(
    text: string,
    att?: Attachment | MessageAttachment,
    options: { replyTo?: string } = {},
  ): PendingMessage {
    const entry: Entry = {
      ...(options.replyTo ? { replyTo: options.replyTo } : {}),
      clientMsgId: (this.deps.newClientMsgId ?? newClientMsgId)(),
      text,
      attachment: att
        ? { id: att.id, mime: att.mime, bytes: att.bytes, filename: att.filename, url: att.url }
        : null,
      state: 'sending',
      inFlight: false,
    };
    this.entries.set(entry.clientMsgId, entry);
    this.deps.onChange?.(entry, 'added');
    this.deliver(entry);
    return entry;
  }

  /** Sends a failed message again (same clientMsgId). */
  retry(clientMsgId: string): void {
    const entry = this.entries.get(clientMsgId);
    if (entry) this.deliver(entry);
  }

  /** Gives up on a pending message. */
  discard(clientMsgId: string): void {
    const entry = this.entries.get(clientMsgId);
    if (entry) this.drop(entry);
  }

  /** After a (re)join: send everything still waiting, in order. */
  async flush(): Promise<void> {
    for (const entry of [...this.entries.values()]) {
      if (!this.deps.canSend()) return;
      if (entry.inFlight || !this.entries.has(entry.clientMsgId)) continue;
      clearTimeout(entry.retryTimer);
      this.setState(entry, 'sending');
      await this.deliverNow(entry);
    }
  }

  /** A committed message (ack or broadcast) replaces its pending one. */
  settle(m: Message): void {
    if (m.userId !== this.deps.me.id || !m.clientMsgId) return;
    const entry = this.entries.get(m.clientMsgId);
    if (entry) this.drop(entry);
  }

  destroy(): void {
    for (const e of this.entries.values()) clearTimeout(e.retryTimer);
  }

  private deliver(entry: Entry): void {
    clearTimeout(entry.retryTimer);
    if (!this.entries.has(entry.clientMsgId)) return;
    this.setState(entry, 'sending');
    if (!this.deps.canSend() || entry.inFlight) return; // flush() sends it after the next join.
    void this.deliverNow(entry);
  }

  private async deliverNow(entry: Entry): Promise<void> {
    entry.inFlight = true;
    let ack: Ack<{ message: Message }>;
    try {
      ack = await this.deps.emit({
        roomId: this.deps.roomId,
        text: entry.text,
        clientMsgId: entry.clientMsgId,
        ...(entry.attachment ? { attachmentId: entry.attachment.id } : {}),
        ...(entry.replyTo ? { replyTo: entry.replyTo } : {}),
      });
    } catch {
      if (!this.entries.has(entry.clientMsgId)) return;
      // No ack in time. If the connection dropped, the next join re-sends it.
      if (this.deps.connected()) this.setState(entry, 'failed', 'no answer from the server');
      return;
    } finally {
      entry.inFlight = false;
    }
    if (!this.entries.has(entry.clientMsgId)) return;
    if (ack.ok) {
      this.deps.onCommitted(ack.message);
      this.settle(ack.message);
      return;
    }
    const { code, message, retryAfterMs } = ack.error;
    if (code === 'rate_limited') {
      entry.retryTimer = setTimeout(() => this.deliver(entry), retryAfterMs ?? 1_000);
    } else if (code === 'not_joined') {
      this.deps.onNotJoined();
    } else if (code === 'forbidden') {
      this.setState(entry, 'failed', 'you are no longer a member of this room');
    } else {
      this.setState(entry, 'failed', message);
    }
  }

  private setState(entry: Entry, state: PendingMessage['state'], reason?: string): void {
    entry.state = state;
    entry.reason = reason;
    this.deps.onChange?.(entry, 'state');
  }

  private drop(entry: Entry): void {
    clearTimeout(entry.retryTimer);
    this.entries.delete(entry.clientMsgId);
    this.deps.onChange?.(entry, 'removed');
  }
}

/** 22 random base64url characters; works without a secure context (unlike randomUUID). */
export function newClientMsgId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}
