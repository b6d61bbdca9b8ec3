import { ReadReporter } from '../../client/read-reporter.ts';
import { RoomList } from '../../client/room-list.ts';
import type { User } from '../../core/schemas.ts';
import { ApiError, client } from './client.ts';
import { ChatView } from './chat-view.ts';
import { browserConnection, type Connection, type ConnectionState } from './connection.ts';
import { h, icon, replaceChildren, uid } from './dom.ts';
import { renderRoomList, roomTitle } from './room-list-view.ts';
import { SearchView } from './search-view.ts';

const ACK_TIMEOUT_MS = 10_000;
/** One `read` per room at most this often (the marker is a hot write on the server). */
const READ_INTERVAL_MS = 500;
const STATE_TEXT: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

/**
 * The signed-in app: top bar (connection, search, user, log out), the room list, and the
 * open room. The room list is live (the user's channel: rooms added, removed, renamed, new
 * activity, read state from other devices; see client/room-list.ts) with the server's
 * unread counts; what the open room shows is reported read (throttled). The open room
 * lives in the URL hash (#room/<id>), so reloads and the back button work.
 */
export class Shell {
  readonly element: HTMLElement;
  private readonly conn: Connection;
  private readonly rooms: RoomList;
  private readonly reads: ReadReporter;
  private chat: ChatView | undefined;
  private readonly roomList: HTMLUListElement;
  private readonly main: HTMLElement;
  private readonly createStatus: HTMLElement;
  private readonly search: SearchView;
  /** A search result to show once its room is open. */
  private pendingJump: { roomId: string; seq: number } | undefined;
  /** Why the open room closed by itself (removed, left elsewhere), shown in its place. */
  private closedNotice: string | undefined;
  private loaded = false;
  private renderPending = false;

  constructor(
    private readonly me: User,
    private readonly onSignedOut: (notice?: string) => void,
  ) {
    this.conn = browserConnection(() => this.sessionEnded());
    const { socket } = this.conn;
    this.rooms = new RoomList({
      socket,
      meId: me.id,
      list: () => client.rooms.list(),
      onChange: () => this.roomsChanged(),
      onRemoved: (roomId) => this.roomGone(roomId, 'You are no longer a member of that room.'),
    });
    this.reads = new ReadReporter({
      intervalMs: READ_INTERVAL_MS,
      emit: (payload) =>
        socket.connected
          ? socket.timeout(ACK_TIMEOUT_MS).emitWithAck('read', payload)
          : Promise.reject(new Error('offline')),
      onRead: (roomId, lastReadSeq) => this.rooms.markRead(roomId, lastReadSeq),
    });
    socket.on('connect', this.onConnect);

    const status = h('span', { class: 'conn', role: 'status', 'data-testid': 'connection' });
    this.conn.onState((state) => {
      status.dataset.state = state;
      status.textContent = STATE_TEXT[state];
    });

    this.search = new SearchView({
      roomName: (roomId) => {
        const r = this.rooms.get(roomId);
        return r ? roomTitle(r, me.username) : undefined;
      },
      open: (roomId, seq) => this.openAt(roomId, seq),
    });

    this.roomList = h('ul', { class: 'room-list' });
    this.createStatus = h('p', { class: 'form-status', 'aria-live': 'polite' });
    const nameId = uid('room-name');
    const nameInput = h('input', {
      id: nameId,
      name: 'name',
      required: true,
      maxlength: 80,
      autocomplete: 'off',
    });
    const createForm = h(
      'form',
      { class: 'create-room stack' },
      h('label', { for: nameId }, 'New room'),
      h('div', { class: 'inline' }, nameInput, h('button', { type: 'submit' }, 'Create')),
      this.createStatus,
    );
    createForm.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.createRoom(nameInput);
    });

    this.main = h('main', { class: 'main', id: 'main' });
    this.element = h(
      'div',
      { class: 'shell' },
      h(
        'header',
        { class: 'topbar' },
        h('span', { class: 'brand' }, 'Parley'),
        status,
        this.search.element,
        h('span', { class: 'spacer' }),
        h('span', { class: 'whoami', 'data-testid': 'whoami' }, me.username),
        h('button', { type: 'button', onclick: () => void this.logout() }, 'Log out'),
      ),
      h(
        'nav',
        { class: 'sidebar', 'aria-label': 'Rooms' },
        h(
          'div',
          { class: 'sidebar-head' },
          h('h2', {}, 'Rooms'),
          h(
            'button',
            {
              type: 'button',
              class: 'icon-button',
              'aria-label': 'Refresh rooms',
              title: 'Refresh rooms',
              onclick: () => void this.rooms.refresh(),
            },
            icon('refresh'),
          ),
        ),
        this.roomList,
        createForm,
      ),
      this.main,
    );

    window.addEventListener('hashchange', this.route);
    document.addEventListener('visibilitychange', this.onVisibility);
    void this.rooms.refresh().then(() => {
      this.loaded = true;
      this.route();
    });
  }

  destroy(): void {
    window.removeEventListener('hashchange', this.route);
    document.removeEventListener('visibilitychange', this.onVisibility);
    this.chat?.destroy();
    this.chat = undefined;
    this.reads.destroy();
    this.rooms.destroy();
    this.conn.close();
  }

  private readonly onConnect = () => this.reads.retry();

  /** Back in the foreground: what the open room shows is read now. */
  private readonly onVisibility = () => {
    if (document.visibilityState === 'visible') this.chat?.reportSeen();
  };

  /**
   * Drawn at most every 50 ms: a busy room moves the list on every message. (A timer, not
   * requestAnimationFrame: a background tab's list still follows, at the browser's pace.)
   */
  private roomsChanged(): void {
    if (this.renderPending) return;
    this.renderPending = true;
    setTimeout(() => {
      this.renderPending = false;
      this.renderRooms();
    }, 50);
  }

  private renderRooms(): void {
    renderRoomList(this.roomList, this.rooms.all, currentRoomId(), this.me.username);
    if (this.chat) {
      const room = this.rooms.get(this.chat.roomId);
      if (room) this.chat.setRoom(room);
    }
  }

  /** The open room went away (left elsewhere, removed by its owner): close it and say why. */
  private roomGone(roomId: string, notice: string): void {
    if (this.chat?.roomId !== roomId) return;
    // The first reason wins (leaving here also brings the room_removed of it).
    this.closedNotice ??= notice;
    if (currentRoomId() === roomId) location.hash = '';
    else this.route();
  }

  /** A search result: open its room (if needed) and show the message with the history around it. */
  private openAt(roomId: string, seq: number): void {
    if (this.chat?.roomId === roomId) {
      void this.chat.jumpTo(seq);
      return;
    }
    this.pendingJump = { roomId, seq };
    location.hash = `room/${encodeURIComponent(roomId)}`;
  }

  private readonly route = () => {
    if (!this.loaded) return;
    const id = currentRoomId();
    const room = id ? this.rooms.get(id) : undefined;
    if (id && !room) {
      // Not (or not yet) one of our rooms: maybe just added; check once more.
      void this.rooms.refresh().then(() => {
        if (currentRoomId() !== id) return;
        if (this.rooms.get(id)) this.route();
        else history.replaceState(null, '', location.pathname);
      });
    }
    if (this.chat && room && this.chat.roomId === room.id) return;
    this.chat?.destroy();
    this.chat = undefined;
    renderRoomList(this.roomList, this.rooms.all, id, this.me.username);
    if (!room) {
      this.element.dataset.view = 'list';
      const notice = this.closedNotice;
      this.closedNotice = undefined;
      replaceChildren(
        this.main,
        h(
          'div',
          { class: 'empty-state' },
          notice ? h('p', { class: 'notice-inline', role: 'status' }, notice) : null,
          h('h2', {}, 'Pick a room'),
          h('p', {}, 'Choose a room on the left, or create one to start talking.'),
        ),
      );
      return;
    }
    this.closedNotice = undefined;
    this.element.dataset.view = 'room';
    const jump = this.pendingJump?.roomId === room.id ? this.pendingJump.seq : undefined;
    this.pendingJump = undefined;
    this.chat = new ChatView({
      room,
      me: this.me,
      conn: this.conn,
      focusSeq: jump,
      onBack: () => {
        location.hash = '';
      },
      onLeft: (roomId, byMe) => {
        this.roomGone(roomId, byMe ? 'You left the room.' : 'You are no longer a member of that room.');
        this.rooms.remove(roomId);
      },
      onSeen: (roomId, seq, unreadAfter) => {
        this.reads.seen(roomId, seq);
        this.rooms.markRead(roomId, seq, unreadAfter);
      },
      openDirect: (username) => void this.openDirect(username),
    });
    replaceChildren(this.main, this.chat.element);
    if (jump === undefined && window.matchMedia('(min-width: 720px)').matches) this.chat.focusComposer();
  };

  private async openDirect(username: string): Promise<void> {
    try {
      const { room } = await client.rooms.direct(username);
      this.rooms.add(room);
      location.hash = `room/${encodeURIComponent(room.id)}`;
    } catch (err) {
      this.chat?.notify(
        err instanceof ApiError && err.code === 'not_found'
          ? `There is no user named “${username}”.`
          : `Could not open a conversation with ${username}: ${err instanceof Error ? err.message : 'error'}`,
      );
    }
  }

  private async createRoom(input: HTMLInputElement): Promise<void> {
    const name = input.value.trim();
    if (!name) return;
    this.createStatus.textContent = '';
    try {
      const room = await client.rooms.create(name);
      input.value = '';
      this.rooms.add(room);
      location.hash = `room/${encodeURIComponent(room.id)}`;
    } catch (err) {
      this.createStatus.textContent = `Could not create the room: ${err instanceof ApiError ? err.message : 'error'}`;
    }
  }

  private async logout(): Promise<void> {
    await client.auth.logout().catch(() => undefined);
    history.replaceState(null, '', location.pathname);
    this.onSignedOut();
  }

  private sessionEnded(): void {
    this.onSignedOut('Your session has ended. Please log in again.');
  }
}

function currentRoomId(): string | undefined {
  const m = /^#room\/(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]!) : undefined;
}
