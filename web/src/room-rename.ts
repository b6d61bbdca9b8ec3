import type { Room } from '../../core/schemas.ts';
import { ApiError, client } from './client.ts';
import { h, uid } from './dom.ts';

const MAX_NAME = 80;

/**
 * The owner's "Rename" control in the room header: an inline form (Enter saves, Esc
 * cancels). The new name reaches every member through `room_updated`; the answer of the
 * PATCH is applied at once here.
 */
export class RoomRename {
  readonly button: HTMLButtonElement;
  readonly form: HTMLFormElement;
  private readonly input: HTMLInputElement;
  private readonly status: HTMLElement;

  constructor(
    private readonly room: () => Room,
    private readonly meId: string,
    private readonly onRenamed: (room: Room) => void,
  ) {
    const inputId = uid('rename');
    this.input = h('input', {
      id: inputId,
      name: 'name',
      required: true,
      maxlength: MAX_NAME,
      autocomplete: 'off',
    });
    this.status = h('span', { class: 'form-status', role: 'status' });
    this.form = h(
      'form',
      { class: 'rename-form inline', hidden: true },
      h('label', { for: inputId, class: 'visually-hidden' }, 'Room name'),
      this.input,
      h('button', { type: 'submit' }, 'Save'),
      h('button', { type: 'button', class: 'link-button', onclick: () => this.close() }, 'Cancel'),
      this.status,
    );
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.save();
    });
    this.form.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.close();
    });
    this.button = h(
      'button',
      { type: 'button', class: 'link-button rename-button', onclick: () => this.open() },
      'Rename',
    );
    this.sync();
  }

  /** Only the owner of a group room may rename it. */
  sync(): void {
    const room = this.room();
    this.button.hidden = room.kind !== 'group' || room.ownerId !== this.meId || !this.form.hidden;
    if (this.button.hidden && !this.form.hidden && room.ownerId !== this.meId) this.close();
  }

  private open(): void {
    this.input.value = this.room().name;
    this.status.textContent = '';
    this.form.hidden = false;
    this.button.hidden = true;
    this.input.select();
    this.input.focus();
  }

  private close(): void {
    this.form.hidden = true;
    this.sync();
    if (!this.button.hidden) this.button.focus();
  }

  private async save(): Promise<void> {
    const name = this.input.value.trim();
    if (!name) {
      this.status.textContent = 'A room needs a name.';
      return;
    }
    if (name === this.room().name) {
      this.close();
      return;
    }
    this.status.textContent = 'Saving…';
    try {
      const room = await client.rooms.rename(this.room().id, name);
      this.onRenamed(room);
      this.close();
    } catch (err) {
      this.status.textContent =
        err instanceof ApiError && err.code === 'forbidden'
          ? 'Only the room’s owner can rename it.'
          : `Could not rename: ${err instanceof Error ? err.message : 'error'}`;
    }
  }
}
