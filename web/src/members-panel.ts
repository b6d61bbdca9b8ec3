import type { ChatSocket } from '../../client/socket.ts';
import type { UserOnlineEvent } from '../../core/events.ts';
import type { Member, PresentUser, Room, User } from '../../core/schemas.ts';
import { ApiError, client } from './client.ts';
import { h, replaceChildren, uid } from './dom.ts';

export interface MembersPanelDeps {
  room: () => Room;
  me: User;
  socket: ChatSocket;
  /** The element whose `panel-open` class shows the panel on narrow screens. */
  host: () => HTMLElement;
  /** The user left (`byMe`), or the room answered not found (removed meanwhile). */
  onLeft(roomId: string, byMe: boolean): void;
  /** Every members list read (read receipts take the markers from it). */
  onMembers(members: Member[]): void;
  /** "Message <user>": open the direct room with them. */
  openDirect(username: string): void;
}

/**
 * A room's members: who is "here" (has this room open: room presence) and who is "online"
 * (connected anywhere), the owner marked; adding a member by username, the owner removing
 * one, "Message" opening a direct room, and leaving. Always visible on wide screens; a
 * toggled overlay on narrow ones.
 */
export class MembersPanel {
  readonly element: HTMLElement;
  readonly toggleButton: HTMLButtonElement;
  private readonly list: HTMLUListElement;
  private readonly status: HTMLElement;
  private readonly addForm: HTMLFormElement;
  private members: Member[] = [];
  private present: PresentUser[] = [];
  /** Online anywhere, by user id: from the members list, then live `user_online` events. */
  private readonly online = new Map<string, boolean>();
  private loading: Promise<void> | undefined;
  private loadAgain = false;

  constructor(private readonly deps: MembersPanelDeps) {
    const panelId = uid('members');
    const inputId = uid('add-member');
    this.list = h('ul', { class: 'member-list', 'aria-label': 'Members' });
    this.status = h('p', { class: 'form-status', 'aria-live': 'polite' });
    const input = h('input', {
      id: inputId,
      name: 'username',
      autocomplete: 'off',
      autocapitalize: 'none',
      spellcheck: 'false',
      required: true,
      maxlength: 32,
    });
    const form = h(
      'form',
      { class: 'stack add-member' },
      h('label', { for: inputId }, 'Add a member by username'),
      h('div', { class: 'inline' }, input, h('button', { type: 'submit' }, 'Add')),
      this.status,
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.add(input);
    });
    this.addForm = form;
    this.element = h(
      'aside',
      { class: 'members-panel', id: panelId, 'aria-label': 'Room members' },
      h('h3', {}, 'Members'),
      this.list,
      form,
      h('button', { type: 'button', class: 'danger', onclick: () => void this.leave() }, 'Leave room'),
    );
    this.element.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.isOpen()) {
        this.toggle();
        this.toggleButton.focus();
      }
    });
    this.toggleButton = h(
      'button',
      {
        type: 'button',
        class: 'panel-toggle',
        'aria-expanded': 'false',
        'aria-controls': panelId,
        onclick: () => this.toggle(),
      },
      'Members',
    );
    deps.socket.on('user_online', this.onUserOnline);
    this.roomChanged();
  }

  destroy(): void {
    this.deps.socket.off('user_online', this.onUserOnline);
  }

  /** The room was renamed or changed owner: the owner's controls follow. */
  roomChanged(): void {
    // Members cannot be added to a direct room.
    this.addForm.hidden = this.deps.room().kind === 'direct';
    this.render();
  }

  private readonly onUserOnline = (e: UserOnlineEvent) => {
    if (!this.members.some((m) => m.userId === e.userId)) return;
    this.online.set(e.userId, e.online);
    this.render();
  };

  /** Who is present now; a present user we do not know as a member was just added. */
  setPresent(users: PresentUser[]): void {
    this.present = users;
    this.render();
    const known = new Set(this.members.map((m) => m.userId));
    if (users.some((u) => !known.has(u.id))) void this.load();
  }

  /** Reads the members list (once at a time; a call meanwhile reads it again after). */
  load(): Promise<void> {
    if (this.loading) {
      this.loadAgain = true;
      return this.loading;
    }
    this.loading = (async () => {
      const roomId = this.deps.room().id;
      try {
        const members = await client.rooms.members(roomId);
        this.members = members;
        // `member.online`: connected anywhere; `user_online` events keep it live.
        for (const m of members) this.online.set(m.userId, m.online);
        this.deps.onMembers(members);
        this.render();
      } catch (err) {
        if (err instanceof ApiError && err.code === 'not_found') this.deps.onLeft(roomId, false);
      } finally {
        this.loading = undefined;
        if (this.loadAgain) {
          this.loadAgain = false;
          void this.load();
        }
      }
    })();
    return this.loading;
  }

  private render(): void {
    const room = this.deps.room();
    const presentIds = new Set(this.present.map((u) => u.id));
    const people: { userId: string; username: string; role?: string }[] =
      this.members.length > 0 ? this.members : this.present.map((u) => ({ userId: u.id, username: u.name }));
    const rows = people
      .map((m) => {
        const here = presentIds.has(m.userId);
        const online = here || this.online.get(m.userId) === true;
        return { id: m.userId, name: m.username, here, online, owner: room.ownerId === m.userId };
      })
      .sort(
        (a, b) =>
          Number(b.here) - Number(a.here) ||
          Number(b.online) - Number(a.online) ||
          a.name.localeCompare(b.name),
      );
    const iOwn = room.kind === 'group' && room.ownerId === this.deps.me.id;
    replaceChildren(
      this.list,
      ...rows.map((r) => {
        const me = r.id === this.deps.me.id;
        const state = r.here ? 'here' : r.online ? 'online' : 'offline';
        return h(
          'li',
          {
            class: `member${r.online ? ' online' : ''}${r.here ? ' here' : ''}`,
            'data-user-id': r.id,
            'data-state': state,
          },
          h('span', { class: 'dot', 'aria-hidden': 'true' }),
          h('span', { class: 'member-name' }, me ? `${r.name} (you)` : r.name),
          r.owner ? h('span', { class: 'member-role' }, 'owner') : null,
          h('span', { class: 'member-state' }, state === 'offline' ? '' : state),
          state === 'offline' ? h('span', { class: 'visually-hidden' }, ', offline') : null,
          me
            ? null
            : h(
                'span',
                { class: 'member-actions' },
                room.kind === 'group'
                  ? h(
                      'button',
                      {
                        type: 'button',
                        class: 'link-button',
                        'aria-label': `Message ${r.name}`,
                        onclick: () => this.deps.openDirect(r.name),
                      },
                      'Message',
                    )
                  : null,
                iOwn
                  ? h(
                      'button',
                      {
                        type: 'button',
                        class: 'link-button danger-link',
                        'aria-label': `Remove ${r.name}`,
                        onclick: () => void this.remove(r.id, r.name),
                      },
                      'Remove',
                    )
                  : null,
              ),
        );
      }),
    );
  }

  private async remove(userId: string, name: string): Promise<void> {
    const room = this.deps.room();
    if (!window.confirm(`Remove ${name} from ${room.name}?`)) return;
    this.status.textContent = `Removing ${name}…`;
    try {
      await client.rooms.removeMember(room.id, userId);
      this.status.textContent = `${name} was removed.`;
      await this.load();
    } catch (err) {
      this.status.textContent =
        err instanceof ApiError && err.code === 'forbidden'
          ? 'Only the room’s owner can remove members.'
          : `Could not remove ${name}: ${err instanceof Error ? err.message : 'error'}`;
    }
  }

  private async add(input: HTMLInputElement): Promise<void> {
    const username = input.value.trim();
    if (!username) return;
    this.status.textContent = 'Adding…';
    try {
      const { member } = await client.rooms.addMember(this.deps.room().id, username);
      this.status.textContent = `${member.username} is a member.`;
      input.value = '';
      await this.load();
    } catch (err) {
      this.status.textContent =
        err instanceof ApiError && err.code === 'not_found'
          ? `There is no user named “${username}”.`
          : err instanceof ApiError && err.code === 'forbidden'
            ? 'Members cannot be added to a direct conversation.'
            : `Could not add ${username}: ${err instanceof Error ? err.message : 'error'}`;
    }
  }

  private async leave(): Promise<void> {
    const room = this.deps.room();
    if (!window.confirm(`Leave ${room.name}? You will need a member to add you again.`)) return;
    try {
      await client.rooms.leave(room.id);
      this.deps.onLeft(room.id, true);
    } catch (err) {
      this.status.textContent = `Could not leave: ${err instanceof Error ? err.message : 'error'}`;
    }
  }

  private isOpen(): boolean {
    return this.toggleButton.getAttribute('aria-expanded') === 'true';
  }

  private toggle(): void {
    const open = !this.isOpen();
    this.toggleButton.setAttribute('aria-expanded', String(open));
    this.deps.host().classList.toggle('panel-open', open);
    if (open) this.element.querySelector('input')?.focus();
  }
}
