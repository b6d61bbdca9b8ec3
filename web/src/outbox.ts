import type { Ack } from '../../core/events.ts';
import type { Attachment, Message, MessageAttachment, MessagePayload, User } from '../../core/schemas.ts';
import { pendingItem, type PendingView } from './message-item.ts';

export interface OutboxDeps {
  roomId: string;
  me: User;
  /** Where messages waiting for their ack are shown (below the confirmed ones). */
  list: HTMLOListElement;
  /** Sends may go out now: connected and the room joined. */
  canSend(): boolean;
  connected(): boolean;
  /** Emits `message` and resolves with the ack; rejects when none comes in time. */
  emit(payload: MessagePayload): Promise<Ack<{ message: Message }>>;
  /** The server stored a message of ours (from its ack). */
  onCommitted(message: Message): void;
  /** The server says the socket is not in the room: join again (which flushes). */
  onNotJoined(): void;
}

interface Pending {
  clientMsgId: string;
  text: string;
  attachment: MessageAttachment | null;
  view: PendingView;
  inFlight: boolean;
  retryTimer?: ReturnType<typeof setTimeout>;
}

/**
 * Own messages until the server has them: each gets a random clientMsgId, shows as
 * "Sending…", and is re-sent with the same id after a reconnect or a rate-limit wait, so
 * the server stores it at most once. The stored message (from the ack or its broadcast,
 * whichever comes first) replaces the placeholder.
 */
export class Outbox {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly deps: OutboxDeps) {}

  add(text: string, att: Attachment | undefined): void {
    const entry: Pending = {
      clientMsgId: newClientMsgId(),
      text,
      attachment: att
        ? { id: att.id, mime: att.mime, bytes: att.bytes, filename: att.filename, url: att.url }
        : null,
      inFlight: false,
      view: undefined as unknown as PendingView,
    };
    entry.view = pendingItem(this.deps.me.username, text, entry.attachment, {
      retry: () => this.deliver(entry),
      discard: () => this.drop(entry),
    });
    this.pending.set(entry.clientMsgId, entry);
    this.deps.list.append(entry.view.item);
    this.deliver(entry);
  }

  /** After a (re)join: send everything still waiting, in order. */
  async flush(): Promise<void> {
    for (const entry of [...this.pending.values()]) {
      if (!this.deps.canSend()) return;
      if (entry.inFlight || !this.pending.has(entry.clientMsgId)) continue;
      clearTimeout(entry.retryTimer);
      entry.view.setState('sending');
      await this.deliverNow(entry);
    }
  }

  /** A committed message replaces its placeholder. */
  settle(m: Message): void {
    if (m.userId !== this.deps.me.id || !m.clientMsgId) return;
    const entry = this.pending.get(m.clientMsgId);
    if (entry) this.drop(entry);
  }

  destroy(): void {
    for (const p of this.pending.values()) clearTimeout(p.retryTimer);
  }

  private deliver(entry: Pending): void {
    clearTimeout(entry.retryTimer);
    if (!this.pending.has(entry.clientMsgId)) return;
    entry.view.setState('sending');
    if (!this.deps.canSend() || entry.inFlight) return; // flush() sends it after the next join.
    void this.deliverNow(entry);
  }

  private async deliverNow(entry: Pending): Promise<void> {
    entry.inFlight = true;
    let ack: Ack<{ message: Message }>;
    try {
      ack = await this.deps.emit({
        roomId: this.deps.roomId,
        text: entry.text,
        clientMsgId: entry.clientMsgId,
        ...(entry.attachment ? { attachmentId: entry.attachment.id } : {}),
      });
    } catch {
      if (!this.pending.has(entry.clientMsgId)) return;
      // No ack in time. If the connection dropped, the next join re-sends it.
      if (this.deps.connected()) entry.view.setState('failed', 'no answer from the server');
      return;
    } finally {
      entry.inFlight = false;
    }
    if (!this.pending.has(entry.clientMsgId)) return;
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
      entry.view.setState('failed', 'you are no longer a member of this room');
    } else {
      entry.view.setState('failed', message);
    }
  }

  private drop(entry: Pending): void {
    clearTimeout(entry.retryTimer);
    this.pending.delete(entry.clientMsgId);
    entry.view.item.remove();
  }
}

/** 22 random base64url characters; works without a secure context (unlike randomUUID). */
function newClientMsgId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}
