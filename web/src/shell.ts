import type { Room, User } from '../../core/schemas.ts';
import { ApiError, client } from './client.ts';
import { ChatView } from './chat-view.ts';
import { browserConnection, type Connection, type ConnectionState } from './connection.ts';
import { h, icon, replaceChildren, uid } from './dom.ts';

const ROOMS_REFRESH_MS = 30_000;
const STATE_TEXT: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

/**
 * The signed-in app: top bar (connection, user, log out), the room list, and the open room.
 * The open room lives in the URL hash (#room/<id>), so reloads and the back button work.
 */
export class Shell {
  readonly element: HTMLElement;
  private readonly conn: Connection;
  private rooms: Room[] = [];
  private chat: ChatView | undefined;
  private readonly roomList: HTMLUListElement;
  private readonly main: HTMLElement;
  private readonly createStatus: HTMLElement;
  private readonly seen: Map<string, number>;
  private readonly refreshTimer: ReturnType<typeof setInterval>;

  constructor(
    private readonly me: User,
    private readonly onSignedOut: (notice?: string) => void,
  ) {
    this.conn = browserConnection(() => this.sessionEnded());
    this.seen = loadSeen(me.id);

    const status = h('span', { class: 'conn', role: 'status', 'data-testid': 'connection' });
    this.conn.onState((state) => {
      status.dataset.state = state;
      status.textContent = STATE_TEXT[state];
      if (state === 'connected') void this.refreshRooms();
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
              onclick: () => void this.refreshRooms(),
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
    window.addEventListener('focus', this.onFocus);
    this.refreshTimer = setInterval(() => void this.refreshRooms(), ROOMS_REFRESH_MS);
    void this.refreshRooms().then(() => this.route());
  }

  destroy(): void {
    window.removeEventListener('hashchange', this.route);
    window.removeEventListener('focus', this.onFocus);
    clearInterval(this.refreshTimer);
    this.chat?.destroy();
    this.chat = undefined;
    this.conn.close();
  }

  private readonly onFocus = () => void this.refreshRooms();

  private async refreshRooms(): Promise<void> {
    try {
      const rooms = await client.rooms.list();
      this.rooms = rooms.sort((a, b) => a.name.localeCompare(b.name));
      this.renderRooms();
    } catch {
      // Offline or a server hiccup: keep the list we have; the next refresh tries again.
    }
  }

  private renderRooms(): void {
    const current = currentRoomId();
    if (this.rooms.length === 0) {
      replaceChildren(this.roomList, h('li', { class: 'muted empty' }, 'No rooms yet. Create one below.'));
      return;
    }
    replaceChildren(
      this.roomList,
      ...this.rooms.map((room) => {
        const unread = room.id !== current && room.lastSeq > (this.seen.get(room.id) ?? 0);
        return h(
          'li',
          {},
          h(
            'a',
            {
              href: `#room/${encodeURIComponent(room.id)}`,
              'aria-current': room.id === current ? 'page' : undefined,
              class: unread ? 'unread' : undefined,
            },
            h('span', { class: 'room-name' }, room.name),
            unread
              ? h('span', { class: 'badge' }, h('span', { class: 'visually-hidden' }, 'new messages'))
              : null,
          ),
        );
      }),
    );
  }

  private readonly route = () => {
    const id = currentRoomId();
    const room = id ? this.rooms.find((r) => r.id === id) : undefined;
    if (id && !room) {
      // Not (or no longer) one of our rooms: maybe just added; check once more.
      void client.rooms
        .list()
        .then((rooms) => {
          this.rooms = rooms.sort((a, b) => a.name.localeCompare(b.name));
          if (rooms.some((r) => r.id === id)) this.route();
          else history.replaceState(null, '', location.pathname);
          this.renderRooms();
        })
        .catch(() => undefined);
    }
    if (this.chat && room && this.chat.element.dataset.roomId === room.id) return;
    this.chat?.destroy();
    this.chat = undefined;
    this.renderRooms();
    if (!room) {
      this.element.dataset.view = 'list';
      replaceChildren(
        this.main,
        h(
          'div',
          { class: 'empty-state' },
          h('h2', {}, 'Pick a room'),
          h('p', {}, 'Choose a room on the left, or create one to start talking.'),
        ),
      );
      return;
    }
    this.element.dataset.view = 'room';
    this.chat = new ChatView({
      room,
      me: this.me,
      conn: this.conn,
      onBack: () => {
        location.hash = '';
      },
      onLeft: (roomId) => {
        this.rooms = this.rooms.filter((r) => r.id !== roomId);
        if (currentRoomId() === roomId) location.hash = '';
        this.renderRooms();
      },
      onSeen: (roomId, seq) => {
        this.seen.set(roomId, seq);
        saveSeen(this.me.id, this.seen);
        const r = this.rooms.find((x) => x.id === roomId);
        if (r && r.lastSeq < seq) r.lastSeq = seq;
      },
    });
    this.chat.element.dataset.roomId = room.id;
    this.seen.set(room.id, Math.max(this.seen.get(room.id) ?? 0, room.lastSeq));
    saveSeen(this.me.id, this.seen);
    replaceChildren(this.main, this.chat.element);
    if (window.matchMedia('(min-width: 720px)').matches) this.chat.focusComposer();
  };

  private async createRoom(input: HTMLInputElement): Promise<void> {
    const name = input.value.trim();
    if (!name) return;
    this.createStatus.textContent = '';
    try {
      const room = await client.rooms.create(name);
      input.value = '';
      this.rooms = [...this.rooms, room].sort((a, b) => a.name.localeCompare(b.name));
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

function loadSeen(userId: string): Map<string, number> {
  try {
    const raw = localStorage.getItem(`parley:seen:${userId}`);
    const parsed: unknown = raw ? JSON.parse(raw) : {};
    return new Map(Object.entries(parsed as Record<string, number>).filter(([, v]) => typeof v === 'number'));
  } catch {
    return new Map();
  }
}

function saveSeen(userId: string, seen: Map<string, number>): void {
  try {
    localStorage.setItem(`parley:seen:${userId}`, JSON.stringify(Object.fromEntries(seen)));
  } catch {
    // Storage full or disabled: unread markers are a nicety.
  }
}
