import { Outbox } from '../../client/outbox.ts';
import { RoomSync } from '../../client/room-sync.ts';
import type { JoinResult, PresenceEvent, TypingEvent } from '../../core/events.ts';
import type { Attachment, Message, PresentUser, Room, User } from '../../core/schemas.ts';
import { client } from './client.ts';
import { Composer } from './composer.ts';
import type { Connection } from './connection.ts';
import { h, icon, replaceChildren, uid } from './dom.ts';
import { MembersPanel } from './members-panel.ts';
import { messageItem } from './message-item.ts';
import { pendingListView } from './outbox.ts';

const ACK_TIMEOUT_MS = 10_000;
/** A remote typing indicator we never hear the end of (lost event) fades after this. */
const TYPING_EXPIRY_MS = 8_000;
const NEAR_BOTTOM_PX = 80;

export interface ChatViewDeps {
  room: Room;
  me: User;
  conn: Connection;
  /** The user left the room (or was found not to be a member any more). */
  onLeft(roomId: string): void;
  /** Phone layout: back to the room list. */
  onBack(): void;
  /** The newest seq shown, for unread markers. */
  onSeen(roomId: string, seq: number): void;
}

/**
 * One open room: history (newest page on open, older on scroll), live messages, sending with
 * acks and retries, presence and typing; the composer and the members panel are its parts. After every reconnect it
 * re-joins with `sinceSeq` and fills any hole with `afterSeq` pages, so the timeline stays
 * gap-free and duplicate-free (see Timeline).
 */
export class ChatView {
  readonly element: HTMLElement;
  private readonly room: Room;
  private readonly sync: RoomSync;
  private readonly typers = new Map<string, { name: string; timer: ReturnType<typeof setTimeout> }>();
  private present: PresentUser[] = [];
  private loadingOlder = false;
  private unseenBelow = 0;
  /** Messages from others that arrived while the tab was in the background. */
  private unseenHidden = 0;
  private destroyed = false;

  // Elements.
  private readonly scroller: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly pendingList: HTMLOListElement;
  private readonly olderBar: HTMLElement;
  private readonly jumpButton: HTMLButtonElement;
  private readonly typingLine: HTMLElement;
  private readonly onlineCount: HTMLElement;
  private readonly notice: HTMLElement;
  private readonly composer: Composer;
  private readonly members: MembersPanel;
  private readonly outbox: Outbox;

  constructor(private readonly deps: ChatViewDeps) {
    this.room = deps.room;
    const titleId = uid('room-title');
    this.olderBar = h('div', { class: 'older' });
    this.list = h('ol', { class: 'messages', 'aria-label': 'Messages' });
    this.pendingList = h('ol', { class: 'messages pending-list', 'aria-label': 'Messages being sent' });
    this.scroller = h(
      'div',
      { class: 'scroller', tabindex: '0', role: 'log', 'aria-labelledby': titleId, 'aria-live': 'polite' },
      this.olderBar,
      this.list,
      this.pendingList,
    );
    this.jumpButton = h(
      'button',
      { type: 'button', class: 'jump', hidden: true, onclick: () => this.scrollToBottom() },
      'New messages ↓',
    );
    this.typingLine = h('p', { class: 'typing', 'aria-live': 'polite' });
    this.notice = h('p', { class: 'notice', role: 'alert', hidden: true });
    this.onlineCount = h('span', { class: 'online-count', 'data-testid': 'online-count' });

    this.members = new MembersPanel({
      room: this.room,
      me: deps.me,
      host: () => this.element,
      onLeft: deps.onLeft,
    });

    const chatMain = h(
      'div',
      { class: 'chat-main' },
      this.scroller,
      this.jumpButton,
      this.notice,
      this.typingLine,
    );
    this.element = h(
      'section',
      { class: 'chat', 'aria-labelledby': titleId },
      h(
        'header',
        { class: 'chat-header' },
        h(
          'button',
          {
            type: 'button',
            class: 'back icon-button',
            onclick: () => deps.onBack(),
            'aria-label': 'Back to rooms',
          },
          icon('back'),
        ),
        h('div', { class: 'chat-title' }, h('h2', { id: titleId }, this.room.name), this.onlineCount),
        this.members.toggleButton,
      ),
      h('div', { class: 'chat-body' }, chatMain, this.members.element),
    );
    this.composer = new Composer({
      roomId: this.room.id,
      roomName: this.room.name,
      dropTarget: this.element,
      canType: () => this.sync.joined,
      onTyping: (typing) => {
        if (this.deps.conn.connected) {
          this.deps.conn.socket.emit('typing', { roomId: this.room.id, typing }, () => undefined);
        }
      },
      onSend: (text, attachment) => this.send(text, attachment),
      notify: (text) => this.showNotice(text),
    });
    chatMain.append(this.composer.element);
    this.outbox = new Outbox({
      roomId: this.room.id,
      me: deps.me,
      onChange: pendingListView(this.pendingList, deps.me.username, () => this.outbox),
      canSend: () => this.sync.joined && !this.destroyed,
      connected: () => deps.conn.connected,
      emit: (payload) => deps.conn.socket.timeout(ACK_TIMEOUT_MS).emitWithAck('message', payload),
      onCommitted: (message) => this.sync.append([message]),
      onNotJoined: () => this.sync.rejoin(),
    });

    this.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });

    const { socket } = deps.conn;
    socket.on('disconnect', this.onDisconnect);
    socket.on('presence', this.onPresence);
    socket.on('typing', this.onTyping);

    document.addEventListener('visibilitychange', this.onVisibility);
    this.renderTitle();
    this.renderOlderBar();
    this.renderPresence();
    this.sync = new RoomSync({
      roomId: this.room.id,
      socket,
      history: (roomId, cursor) => client.messages.history(roomId, cursor),
      ackTimeoutMs: ACK_TIMEOUT_MS,
      onLoaded: (messages) => this.onLoaded(messages),
      onNewer: (received, added) => this.onNewer(received, added),
      onJoined: (joined) => this.onJoined(joined),
      onForbidden: () => deps.onLeft(this.room.id),
      onNotice: (text) => (text === undefined ? this.hideNotice() : this.showNotice(text)),
      afterJoin: () => this.outbox.flush(),
    });
    void this.members.load();
  }

  focusComposer(): void {
    this.composer.focus();
  }

  destroy(): void {
    this.destroyed = true;
    document.removeEventListener('visibilitychange', this.onVisibility);
    document.title = 'Parley';
    this.composer.destroy();
    const { socket } = this.deps.conn;
    socket.off('disconnect', this.onDisconnect);
    socket.off('presence', this.onPresence);
    socket.off('typing', this.onTyping);
    this.sync.destroy();
    this.outbox.destroy();
    for (const t of this.typers.values()) clearTimeout(t.timer);
  }

  private readonly onVisibility = () => {
    if (document.hidden) return;
    this.unseenHidden = 0;
    this.renderTitle();
  };

  private renderTitle(): void {
    const unseen = this.unseenHidden > 0 ? `(${this.unseenHidden}) ` : '';
    document.title = `${unseen}${this.room.name} · Parley`;
  }

  // ---- joining and catching up (RoomSync), shown here ----

  private readonly onDisconnect = () => {
    // Who is here is unknown until the next join answers.
    this.present = [];
    this.renderPresence();
    for (const t of this.typers.values()) clearTimeout(t.timer);
    this.typers.clear();
    this.composer.forgetTyping();
    this.renderTyping();
  };

  private onJoined(joined: JoinResult): void {
    this.present = joined.users;
    this.renderPresence();
  }

  private onLoaded(messages: Message[]): void {
    for (const m of messages) this.place(m);
    this.renderOlderBar();
    this.scrollToBottom();
    void this.fillViewport();
  }

  private onNewer(received: Message[], added: Message[]): void {
    const stick = this.nearBottom();
    for (const m of received) this.outbox.settle(m);
    let foreign = 0;
    for (const m of added) {
      this.place(m);
      if (m.userId !== this.deps.me.id) foreign++;
    }
    if (added.length === 0) return;
    // The first messages of an empty room replace its "say hello" line.
    if (this.sync.timeline.size === added.length) this.renderOlderBar();
    this.deps.onSeen(this.room.id, this.sync.timeline.newest);
    if (foreign > 0 && document.hidden) {
      this.unseenHidden += foreign;
      this.renderTitle();
    }
    if (stick) this.scrollToBottom();
    else if (foreign > 0) {
      this.unseenBelow += foreign;
      this.jumpButton.textContent = `${this.unseenBelow} new message${this.unseenBelow === 1 ? '' : 's'} ↓`;
      this.jumpButton.hidden = false;
    }
  }

  // ---- older history ----

  private onScroll(): void {
    if (this.scroller.scrollTop < 200) void this.loadOlder();
    if (this.nearBottom()) {
      this.unseenBelow = 0;
      this.jumpButton.hidden = true;
    }
  }

  private async loadOlder(): Promise<void> {
    if (this.loadingOlder || !this.sync.ready || !this.sync.timeline.hasOlder) return;
    this.loadingOlder = true;
    this.renderOlderBar();
    try {
      const older = await this.sync.older(50);
      const height = this.scroller.scrollHeight;
      const top = this.scroller.scrollTop;
      for (const m of older) this.place(m);
      // Keep what the reader was looking at in place while content grows above it.
      this.scroller.scrollTop = top + (this.scroller.scrollHeight - height);
    } catch (err) {
      this.showNotice(`Older messages could not be loaded: ${err instanceof Error ? err.message : 'error'}`);
    } finally {
      this.loadingOlder = false;
      this.renderOlderBar();
    }
  }

  /** Loads older pages while the list does not fill the viewport (nothing to scroll yet). */
  private async fillViewport(): Promise<void> {
    while (
      !this.destroyed &&
      this.sync.timeline.hasOlder &&
      this.scroller.scrollHeight <= this.scroller.clientHeight
    ) {
      const before = this.sync.timeline.size;
      await this.loadOlder();
      if (this.sync.timeline.size === before) break;
    }
  }

  private renderOlderBar(): void {
    if (!this.sync?.ready) {
      replaceChildren(this.olderBar, h('span', { class: 'muted' }, 'Loading messages…'));
    } else if (this.loadingOlder) {
      replaceChildren(this.olderBar, h('span', { class: 'muted' }, 'Loading older messages…'));
    } else if (this.sync.timeline.hasOlder) {
      replaceChildren(
        this.olderBar,
        h(
          'button',
          { type: 'button', class: 'link-button', onclick: () => void this.loadOlder() },
          'Load older messages',
        ),
      );
    } else {
      replaceChildren(
        this.olderBar,
        h(
          'span',
          { class: 'muted' },
          this.sync.timeline.size === 0
            ? `No messages in ${this.room.name} yet. Say hello!`
            : `This is the beginning of ${this.room.name}.`,
        ),
      );
    }
  }

  // ---- rendering ----

  /** Inserts a message's element in seq order (appends and prepends are the fast paths). */
  private place(m: Message): void {
    const item = messageItem(
      m,
      m.userId === this.deps.me.id,
      () => this.onMediaLoad(),
      () => this.freshAttachmentUrl(m.seq),
    );
    const seqOf = (el: Element | null) => Number((el as HTMLElement | null)?.dataset.seq ?? NaN);
    const last = this.list.lastElementChild;
    if (!last || seqOf(last) < m.seq) {
      this.list.append(item);
      return;
    }
    if (seqOf(this.list.firstElementChild) > m.seq) {
      this.list.prepend(item);
      return;
    }
    for (const el of this.list.children) {
      if (seqOf(el) > m.seq) {
        el.before(item);
        return;
      }
    }
    this.list.append(item);
  }

  private async freshAttachmentUrl(seq: number): Promise<string | undefined> {
    try {
      const page = await client.messages.history(this.room.id, { afterSeq: seq - 1, limit: 1 });
      const fresh = page.messages[0];
      return fresh?.seq === seq ? (fresh.attachment?.url ?? undefined) : undefined;
    } catch {
      return undefined;
    }
  }

  private onMediaLoad(): void {
    // Images change the height after layout; stay pinned to the bottom when we were there.
    if (
      this.unseenBelow === 0 &&
      this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 600
    ) {
      this.scrollToBottom();
    }
  }

  private nearBottom(): boolean {
    return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < NEAR_BOTTOM_PX;
  }

  private scrollToBottom(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.unseenBelow = 0;
    this.jumpButton.hidden = true;
  }

  private showNotice(text: string): void {
    this.notice.textContent = text;
    this.notice.hidden = false;
  }

  private hideNotice(): void {
    this.notice.hidden = true;
  }

  // ---- sending ----

  private send(text: string, att: Attachment | undefined): void {
    this.hideNotice();
    this.outbox.add(text, att);
    this.scrollToBottom();
  }

  // ---- typing ----

  private readonly onTyping = (e: TypingEvent) => {
    if (e.roomId !== this.room.id || e.userId === this.deps.me.id) return;
    const existing = this.typers.get(e.userId);
    if (existing) clearTimeout(existing.timer);
    if (e.typing) {
      const timer = setTimeout(() => {
        this.typers.delete(e.userId);
        this.renderTyping();
      }, TYPING_EXPIRY_MS);
      this.typers.set(e.userId, { name: e.name, timer });
    } else {
      this.typers.delete(e.userId);
    }
    this.renderTyping();
  };

  private renderTyping(): void {
    const names = [...this.typers.values()].map((t) => t.name);
    this.typingLine.textContent =
      names.length === 0
        ? ''
        : names.length === 1
          ? `${names[0]} is typing…`
          : names.length === 2
            ? `${names[0]} and ${names[1]} are typing…`
            : 'Several people are typing…';
  }

  // ---- presence ----

  private readonly onPresence = (e: PresenceEvent) => {
    if (e.roomId !== this.room.id) return;
    this.present = e.users;
    const presentIds = new Set(e.users.map((u) => u.id));
    for (const [id, t] of this.typers) {
      if (!presentIds.has(id)) {
        clearTimeout(t.timer);
        this.typers.delete(id);
      }
    }
    this.renderTyping();
    this.renderPresence();
  };

  private renderPresence(): void {
    const n = this.present.length;
    this.onlineCount.textContent = this.sync?.joined || n > 0 ? `${n} online` : '';
    this.members.setPresent(this.present);
  }
}
