import type { Member, PresentUser, Room, User } from '../../core/schemas.ts';
import { ApiError, client } from './client.ts';
import { h, replaceChildren, uid } from './dom.ts';

export interface MembersPanelDeps {
  room: Room;
  me: User;
  /** The element whose `panel-open` class shows the panel on narrow screens. */
  host: () => HTMLElement;
  onLeft(roomId: string): void;
}

/**
 * A room's members with who is online now (presence), adding a member by username, and
 * leaving. Always visible on wide screens; a toggled overlay on narrow ones.
 */
export class MembersPanel {
  readonly element: HTMLElement;
  readonly toggleButton: HTMLButtonElement;
  private readonly list: HTMLUListElement;
  private readonly status: HTMLElement;
  private members: Member[] = [];
  private present: PresentUser[] = [];
  private loading: Promise<void> | undefined;

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
      { class: 'stack' },
      h('label', { for: inputId }, 'Add a member by username'),
      h('div', { class: 'inline' }, input, h('button', { type: 'submit' }, 'Add')),
      this.status,
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.add(input);
    });
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
  }

  /** Who is present now; a present user we do not know as a member was just added. */
  setPresent(users: PresentUser[]): void {
    this.present = users;
    this.render();
    const known = new Set(this.members.map((m) => m.userId));
    if (users.some((u) => !known.has(u.id))) void this.load();
  }

  load(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const members = await client.rooms.members(this.deps.room.id);
        this.members = members;
        this.render();
      } catch (err) {
        if (err instanceof ApiError && err.code === 'not_found') this.deps.onLeft(this.deps.room.id);
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  private render(): void {
    const presentIds = new Set(this.present.map((u) => u.id));
    const people =
      this.members.length > 0 ? this.members : this.present.map((u) => ({ userId: u.id, username: u.name }));
    const rows = people
      .map((m) => ({ id: m.userId, name: m.username, online: presentIds.has(m.userId) }))
      .sort((a, b) => Number(b.online) - Number(a.online) || a.name.localeCompare(b.name));
    replaceChildren(
      this.list,
      ...rows.map((r) =>
        h(
          'li',
          { class: r.online ? 'member online' : 'member', 'data-user-id': r.id },
          h('span', { class: 'dot', 'aria-hidden': 'true' }),
          h('span', { class: 'member-name' }, r.id === this.deps.me.id ? `${r.name} (you)` : r.name),
          h('span', { class: 'visually-hidden' }, r.online ? ', online' : ', offline'),
        ),
      ),
    );
  }

  private async add(input: HTMLInputElement): Promise<void> {
    const username = input.value.trim();
    if (!username) return;
    this.status.textContent = 'Adding…';
    try {
      const { member } = await client.rooms.addMember(this.deps.room.id, username);
      this.status.textContent = `${member.username} is a member.`;
      input.value = '';
      await this.load();
    } catch (err) {
      this.status.textContent =
        err instanceof ApiError && err.code === 'not_found'
          ? `There is no user named “${username}”.`
          : `Could not add ${username}: ${err instanceof Error ? err.message : 'error'}`;
    }
  }

  private async leave(): Promise<void> {
    const { room } = this.deps;
    if (!window.confirm(`Leave ${room.name}? You will need a member to add you again.`)) return;
    try {
      await client.rooms.leave(room.id);
      this.deps.onLeft(room.id);
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
