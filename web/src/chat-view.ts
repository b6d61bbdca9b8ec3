import { MessageActions } from '../../client/message-actions.ts';
import { Outbox } from '../../client/outbox.ts';
import { ReadReceipts } from '../../client/read-receipts.ts';
import { RoomSync } from '../../client/room-sync.ts';
import type { JoinResult, PresenceEvent, ReadReceiptEvent, TypingEvent } from '../../core/events.ts';
import type { Attachment, Message, PresentUser, Room, User } from '../../core/schemas.ts';
import { client } from './client.ts';
import { Composer } from './composer.ts';
import type { Connection } from './connection.ts';
import { h, icon, replaceChildren, uid } from './dom.ts';
import { MembersPanel } from './members-panel.ts';
import { messageItem, type MessageContext } from './message-item.ts';
import { HistoryWindow } from './history-window.ts';
import { pendingListView } from './outbox.ts';
import { RoomRename } from './room-rename.ts';
import { roomTitle } from './room-list-view.ts';

const ACK_TIMEOUT_MS = 10_000;
/** A remote typing indicator we never hear the end of (lost event) fades after this. */
const TYPING_EXPIRY_MS = 8_000;
const NEAR_BOTTOM_PX = 80;
/** Consecutive messages of one author within this are shown as one group. */
const GROUP_WINDOW_MS = 5 * 60_000;
const HIGHLIGHT_MS = 2_000;
/**
 * A jump further back than this many messages below the oldest loaded shows the message in a
 * window of the history around it instead of paging the whole timeline down to it.
 */
const FAR_JUMP = 200;
/** "Seen by" names this many, then "and N others". */
const SEEN_BY_NAMES = 3;
const dayFormat = new Intl.DateTimeFormat(undefined, {
  weekday: 'long',
  day: 'numeric',
  month: 'long',
  year: 'numeric',
});

export interface ChatViewDeps {
  room: Room;
  me: User;
  conn: Connection;
  /** The user left the room (`byMe`), or was found not to be a member any more. */
  onLeft(roomId: string, byMe: boolean): void;
  /** Phone layout: back to the room list. */
  onBack(): void;
  /**
   * The newest message on screen while the tab is visible (read), and how many messages
   * from others after it the timeline holds (what is still unread).
   */
  onSeen(roomId: string, seq: number, unreadAfter: number): void;
  /** "Message <user>" in the members panel. */
  openDirect(username: string): void;
  /** A message to show once the room is open (a search result). */
  focusSeq?: number | undefined;
}

/**
 * One open room: history (newest page on open, older on scroll), live messages, sending with
 * acks and retries, presence and typing; the composer and the members panel are its parts. After every reconnect it
 * re-joins with `sinceSeq` and `sinceVersion`, fills any hole with `afterSeq` pages and
 * applies every missed edit, delete and reaction, so the timeline stays gap-free,
 * duplicate-free and exactly as stored (see RoomSync). Messages are edited, deleted, reacted
 * to and replied to from their own actions; consecutive messages of one author are grouped
 * and each day starts with a separator.
 */
export class ChatView {
  readonly element: HTMLElement;
  private room: Room;
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
  private readonly actions: MessageActions;
  private readonly itemContext: MessageContext;
  /** Names by user id (authors and present users), for the reaction chips. */
  private readonly names = new Map<string, string>();
  private replyingTo: Message | undefined;
  private readonly replyBar: HTMLElement;
  private readonly title: HTMLHeadingElement;
  private readonly rename: RoomRename;
  private readonly receipts: ReadReceipts;
  /** "Seen by <names>" under the newest message. */
  private readonly seenLine: HTMLElement;
  /** The history around a far-back message, shown instead of the timeline. */
  private window: HistoryWindow | undefined;

  constructor(private readonly deps: ChatViewDeps) {
    this.room = deps.room;
    const titleId = uid('room-title');
    this.olderBar = h('div', { class: 'older' });
    this.list = h('ol', { class: 'messages', 'aria-label': 'Messages' });
    this.pendingList = h('ol', { class: 'messages pending-list', 'aria-label': 'Messages being sent' });
    this.seenLine = h('p', { class: 'seen-by', 'data-testid': 'seen-by', hidden: true });
    this.receipts = new ReadReceipts(this.room.id, deps.me.id);
    this.scroller = h(
      'div',
      { class: 'scroller', tabindex: '0', role: 'log', 'aria-labelledby': titleId, 'aria-live': 'polite' },
      this.olderBar,
      this.list,
      this.seenLine,
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
      room: () => this.room,
      me: deps.me,
      socket: deps.conn.socket,
      host: () => this.element,
      onLeft: deps.onLeft,
      onMembers: (members) => {
        this.receipts.setMembers(members);
        for (const m of members) this.names.set(m.userId, m.username);
        this.renderSeenBy();
      },
      openDirect: deps.openDirect,
    });
    this.title = h('h2', { id: titleId }, roomTitle(this.room, deps.me.username));
    this.rename = new RoomRename(
      () => this.room,
      deps.me.id,
      (room) => this.setRoom({ ...this.room, ...room }),
    );

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
        h('div', { class: 'chat-title' }, this.title, this.rename.form, this.onlineCount, this.rename.button),
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
    this.replyBar = h('div', { class: 'reply-bar', hidden: true, 'aria-live': 'polite' });
    chatMain.append(this.replyBar, this.composer.element);
    this.composer.element.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.replyingTo) this.cancelReply();
    });
    this.actions = new MessageActions({
      roomId: this.room.id,
      socket: deps.conn.socket,
      ackTimeoutMs: ACK_TIMEOUT_MS,
      onChanged: (m) => this.sync.applyChanges([m]),
    });
    this.itemContext = {
      meId: deps.me.id,
      canDeleteOthers: () => this.room.kind === 'group' && this.room.ownerId === deps.me.id,
      onMediaLoad: () => this.onMediaLoad(),
      nameOf: (id) => this.names.get(id) ?? 'someone',
      loaded: (seq) => this.sync.timeline.get(seq),
      actions: {
        edit: async (m, text) => void (await this.actions.edit(m.id, text)),
        delete: async (m) => void (await this.actions.delete(m.id)),
        react: async (m, emoji, on) => void (await this.actions.react(m.id, emoji, on)),
        reply: (m) => this.startReply(m),
        jumpTo: (seq) => void this.jumpTo(seq),
        notify: (text) => this.showNotice(text),
      },
    };
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
    socket.on('read', this.onRead);

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
      onUpdated: (messages) => this.onUpdated(messages),
      onJoined: (joined) => this.onJoined(joined),
      onForbidden: () => deps.onLeft(this.room.id, false),
      onNotice: (text) => (text === undefined ? this.hideNotice() : this.showNotice(text)),
      afterJoin: () => this.outbox.flush(),
    });
    void this.members.load();
  }

  get roomId(): string {
    return this.room.id;
  }

  focusComposer(): void {
    this.composer.focus();
  }

  /** The room changed (renamed, new owner): title, owner's controls and delete rights follow. */
  setRoom(room: Room): void {
    const before = this.room;
    this.room = { ...this.room, ...room };
    if (before.name !== this.room.name) {
      this.title.textContent = roomTitle(this.room, this.deps.me.username);
      this.renderTitle();
    }
    if (before.ownerId !== this.room.ownerId) {
      this.rename.sync();
      this.members.roomChanged();
      // Delete buttons on others' messages follow ownership.
      for (const seq of this.sync.timeline.seqs()) this.redraw(seq);
    }
  }

  notify(text: string): void {
    this.showNotice(text);
  }

  /**
   * Reports the newest message on screen as read, when the tab is visible: the server's
   * marker (throttled by the caller) and the unread count left after it.
   */
  reportSeen(): void {
    if (this.destroyed || !this.sync.ready || document.visibilityState !== 'visible') return;
    const seq = this.newestVisibleSeq();
    if (seq === 0) return;
    let unread = 0;
    for (let s = seq + 1; s <= this.sync.timeline.newest; s++) {
      const m = this.sync.timeline.get(s);
      if (m && m.userId !== this.deps.me.id && m.deletedAt === null) unread++;
    }
    this.deps.onSeen(this.room.id, seq, unread);
  }

  /** The newest message whose top is inside the scroller's viewport (0: none). */
  private newestVisibleSeq(): number {
    const bottom = this.scroller.getBoundingClientRect().bottom;
    const items = this.list.querySelectorAll<HTMLElement>(':scope > li.msg');
    for (let i = items.length - 1; i >= 0; i--) {
      const item = items[i]!;
      if (item.getBoundingClientRect().top < bottom - 4) return Number(item.dataset.seq);
    }
    return 0;
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
    socket.off('read', this.onRead);
    this.members.destroy();
    this.sync.destroy();
    this.outbox.destroy();
    for (const t of this.typers.values()) clearTimeout(t.timer);
  }

  private readonly onVisibility = () => {
    if (document.hidden) return;
    this.unseenHidden = 0;
    this.renderTitle();
  };

  // ---- read receipts ----

  private readonly onRead = (e: ReadReceiptEvent) => {
    if (!this.receipts.apply(e)) return;
    // A reader the members list does not know: just added; read the list again.
    if (this.receipts.hasUnnamed()) void this.members.load();
    this.renderSeenBy();
  };

  /** "Seen by <names>" under the newest message: the other members whose marker reached it. */
  private renderSeenBy(): void {
    const newest = this.sync?.timeline.size ? this.sync.timeline.newest : 0;
    const readers = newest > 0 ? this.receipts.seenBy(newest) : [];
    if (readers.length === 0) {
      this.seenLine.hidden = true;
      this.seenLine.textContent = '';
      return;
    }
    const names = readers.map((r) => r.name);
    const shown =
      names.length <= SEEN_BY_NAMES
        ? names.join(', ')
        : `${names.slice(0, SEEN_BY_NAMES).join(', ')} and ${names.length - SEEN_BY_NAMES} other${names.length - SEEN_BY_NAMES === 1 ? '' : 's'}`;
    this.seenLine.textContent = `Seen by ${shown}`;
    this.seenLine.title = names.join(', ');
    this.seenLine.hidden = false;
  }

  private renderTitle(): void {
    const unseen = this.unseenHidden > 0 ? `(${this.unseenHidden}) ` : '';
    document.title = `${unseen}${roomTitle(this.room, this.deps.me.username)} · Parley`;
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
    for (const u of joined.users) this.names.set(u.id, u.name);
    this.renderPresence();
  }

  private onLoaded(messages: Message[]): void {
    for (const m of messages) this.place(m);
    this.renderOlderBar();
    this.scrollToBottom();
    this.renderSeenBy();
    const focus = this.deps.focusSeq;
    if (focus !== undefined) void this.jumpTo(focus);
    else void this.fillViewport().then(() => this.reportSeen());
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
    this.renderSeenBy();
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
    this.reportSeen();
  }

  /** Messages shown whose state changed: each item is drawn again in place. */
  private onUpdated(messages: Message[]): void {
    const stick = this.nearBottom();
    for (const m of messages) this.redraw(m.seq);
    if (stick) this.scrollToBottom();
  }

  private redraw(seq: number): void {
    const old = this.itemOf(seq);
    const m = this.sync.timeline.get(seq);
    if (!old || !m) return;
    // Not under the author's hands: an edit in progress is redrawn when it ends.
    if (old.dataset.editing) {
      old.addEventListener('editend', () => this.redraw(seq), { once: true });
      return;
    }
    const item = messageItem(m, { ...this.itemContext, refreshUrl: () => this.freshAttachmentUrl(m.seq) });
    if (old.classList.contains('highlight')) item.classList.add('highlight');
    // Keyboard users keep their place: the same control in the new item gets the focus.
    const active = document.activeElement;
    const focusKey =
      active instanceof HTMLElement && old.contains(active)
        ? active.dataset.emoji !== undefined
          ? `[data-emoji="${CSS.escape(active.dataset.emoji)}"]`
          : `[aria-label="${CSS.escape(active.getAttribute('aria-label') ?? '')}"]`
        : undefined;
    old.replaceWith(item);
    if (focusKey) {
      const again = item.querySelector<HTMLElement>(focusKey);
      if (again) again.focus();
      else {
        item.setAttribute('tabindex', '-1');
        item.focus({ preventScroll: true });
      }
    }
    this.decorate(item);
    this.decorate(this.nextMessage(item));
    if (this.replyingTo?.id === m.id) {
      if (m.deletedAt !== null) this.cancelReply();
      else this.startReply(m, false);
    }
  }

  private itemOf(seq: number): HTMLElement | null {
    return this.list.querySelector<HTMLElement>(`:scope > li.msg[data-seq="${seq}"]`);
  }

  // ---- replies ----

  private startReply(m: Message, focus = true): void {
    this.replyingTo = m;
    const excerpt = [...m.text].length > 120 ? `${[...m.text].slice(0, 120).join('')}…` : m.text;
    replaceChildren(
      this.replyBar,
      h(
        'div',
        { class: 'reply-bar-quote' },
        h('span', { class: 'reply-bar-label' }, `Replying to ${m.name}`),
        h('span', { class: 'reply-bar-text' }, excerpt || (m.attachment ? m.attachment.filename : '')),
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'icon-button',
          'aria-label': 'Cancel reply',
          onclick: () => this.cancelReply(),
        },
        icon('close'),
      ),
    );
    this.replyBar.hidden = false;
    if (focus) this.composer.focus();
  }

  private cancelReply(): void {
    this.replyingTo = undefined;
    this.replyBar.hidden = true;
    this.replyBar.replaceChildren();
  }

  /** Scrolls to a message and highlights it, loading older pages down to it when needed. */
  async jumpTo(seq: number): Promise<void> {
    this.closeWindow();
    if (this.sync.ready && this.sync.timeline.size > 0 && seq < this.sync.timeline.oldest - FAR_JUMP) {
      await this.openWindow(seq);
      return;
    }
    try {
      // Newer than what is held (a result of a search run after the last live message).
      while (this.sync.ready && seq > this.sync.timeline.newest) {
        const before = this.sync.timeline.newest;
        const page = await client.messages.history(this.room.id, { afterSeq: before, limit: 100 });
        this.sync.append(page.messages);
        if (this.sync.timeline.newest === before) break;
      }
      while (!this.itemOf(seq) && this.sync.timeline.hasOlder && seq < this.sync.timeline.oldest) {
        const before = this.sync.timeline.oldest;
        const older = await this.sync.older(100);
        for (const m of older) this.place(m);
        this.renderOlderBar();
        if (this.sync.timeline.oldest === before) break;
      }
    } catch (err) {
      this.showNotice(`The message could not be loaded: ${err instanceof Error ? err.message : 'error'}`);
      return;
    }
    const item = this.itemOf(seq);
    if (!item) {
      this.showNotice('That message is no longer available.');
      return;
    }
    item.scrollIntoView({ block: 'center' });
    for (const el of this.list.querySelectorAll('.highlight')) el.classList.remove('highlight');
    item.classList.add('highlight');
    item.setAttribute('tabindex', '-1');
    item.focus({ preventScroll: true });
    setTimeout(() => item.classList.remove('highlight'), HIGHLIGHT_MS);
    this.reportSeen();
  }

  private async openWindow(seq: number): Promise<void> {
    const w = new HistoryWindow({
      roomId: this.room.id,
      render: (m) => messageItem(m, this.itemContext),
      onClose: () => this.closeWindow(),
      notify: (text) => this.showNotice(text),
    });
    let found: boolean;
    try {
      found = await w.open(seq);
    } catch (err) {
      this.showNotice(`The message could not be loaded: ${err instanceof Error ? err.message : 'error'}`);
      return;
    }
    if (this.destroyed) return;
    if (!found) {
      this.showNotice('That message is no longer available.');
      return;
    }
    this.closeWindow();
    this.window = w;
    this.scroller.hidden = true;
    this.jumpButton.hidden = true;
    this.scroller.before(w.element);
  }

  private closeWindow(): void {
    if (!this.window) return;
    this.window.element.remove();
    this.window = undefined;
    this.scroller.hidden = false;
    this.scrollToBottom();
    this.reportSeen();
  }

  // ---- older history ----

  private onScroll(): void {
    if (this.scroller.scrollTop < 200) void this.loadOlder();
    if (this.nearBottom()) {
      this.unseenBelow = 0;
      this.jumpButton.hidden = true;
    }
    this.reportSeen();
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
    this.names.set(m.userId, m.name);
    const item = messageItem(m, { ...this.itemContext, refreshUrl: () => this.freshAttachmentUrl(m.seq) });
    this.insert(item, m.seq);
    this.decorate(item);
    this.decorate(this.nextMessage(item));
  }

  private insert(item: HTMLElement, seq: number): void {
    const seqOf = (el: Element | null) => Number((el as HTMLElement | null)?.dataset.seq ?? NaN);
    const items = this.list.querySelectorAll(':scope > li.msg');
    const last = items[items.length - 1] ?? null;
    if (!last || seqOf(last) < seq) {
      this.list.append(item);
      return;
    }
    if (seqOf(items[0] ?? null) > seq) {
      this.list.prepend(item);
      return;
    }
    for (const el of items) {
      if (seqOf(el) > seq) {
        el.before(item);
        return;
      }
    }
    this.list.append(item);
  }

  private nextMessage(item: Element): HTMLElement | null {
    let el = item.nextElementSibling;
    while (el && !el.classList.contains('msg')) el = el.nextElementSibling;
    return el as HTMLElement | null;
  }

  /**
   * A day separator before the first message of each day, and `grouped` on a message that
   * follows one of the same author within 5 minutes (its name and time are then implied).
   */
  private decorate(item: HTMLElement | null): void {
    if (!item) return;
    let prev = item.previousElementSibling as HTMLElement | null;
    const separator = prev?.classList.contains('day-separator') ? prev : null;
    while (prev && !prev.classList.contains('msg')) prev = prev.previousElementSibling as HTMLElement | null;
    const ts = Number(item.dataset.ts);
    const prevTs = Number(prev?.dataset.ts ?? NaN);
    const newDay = !prev || new Date(ts).toDateString() !== new Date(prevTs).toDateString();
    if (newDay && !separator) {
      const day = dayFormat.format(new Date(ts));
      item.before(
        h('li', { class: 'day-separator', role: 'separator', 'aria-label': day }, h('span', {}, day)),
      );
    } else if (!newDay && separator) {
      separator.remove();
    }
    item.classList.toggle(
      'grouped',
      !newDay && prev?.dataset.user === item.dataset.user && ts - prevTs < GROUP_WINDOW_MS,
    );
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
    const replyTo = this.replyingTo?.id;
    this.cancelReply();
    this.outbox.add(text, att, replyTo ? { replyTo } : {});
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
    for (const u of e.users) this.names.set(u.id, u.name);
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
