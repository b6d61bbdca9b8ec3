import type { Message } from '../../core/schemas.ts';
import { ApiError, client } from './client.ts';
import { formatTime, h, uid } from './dom.ts';

export interface SearchViewDeps {
  /** A room's display name, when it is one of ours. */
  roomName(roomId: string): string | undefined;
  /** Opens the message in its room (loading the history around it). */
  open(roomId: string, seq: number): void;
}

const PAGE = 20;
const MAX_QUERY_CODE_POINTS = 200;

/**
 * The search box: `GET /api/search` over every room of the user (every word, the last one as
 * a prefix), newest first, "More results" following `nextCursor`. A result opens its
 * message in its room. Esc or ✕ closes the results.
 */
export class SearchView {
  readonly element: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly results: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly status: HTMLElement;
  private readonly more: HTMLButtonElement;
  private query = '';
  private cursor: string | null = null;
  /** Answers of an older query are dropped. */
  private generation = 0;

  constructor(private readonly deps: SearchViewDeps) {
    const inputId = uid('search');
    this.input = h('input', {
      id: inputId,
      type: 'search',
      name: 'q',
      placeholder: 'Search messages',
      autocomplete: 'off',
      maxlength: MAX_QUERY_CODE_POINTS,
      'aria-label': 'Search messages',
    });
    this.status = h('p', { class: 'search-status muted', role: 'status' });
    this.list = h('ol', { class: 'search-list' });
    this.more = h(
      'button',
      { type: 'button', class: 'link-button', hidden: true, onclick: () => void this.load(false) },
      'More results',
    );
    this.results = h(
      'section',
      { class: 'search-results', 'aria-label': 'Search results', hidden: true },
      h(
        'div',
        { class: 'search-results-head' },
        this.status,
        h('button', { type: 'button', class: 'link-button', onclick: () => this.close() }, 'Close'),
      ),
      this.list,
      this.more,
    );
    const form = h('form', { class: 'search-form', role: 'search' }, this.input);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.load(true);
    });
    this.element = h('div', { class: 'search' }, form, this.results);
    this.element.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !this.results.hidden) {
        this.close();
        this.input.focus();
      }
    });
  }

  close(): void {
    this.generation++;
    this.results.hidden = true;
    this.list.replaceChildren();
  }

  private async load(fresh: boolean): Promise<void> {
    if (fresh) {
      this.query = this.input.value.trim();
      this.cursor = null;
      this.list.replaceChildren();
      if (!this.query) {
        this.close();
        return;
      }
    }
    const generation = ++this.generation;
    this.results.hidden = false;
    this.more.hidden = true;
    this.status.textContent = 'Searching…';
    try {
      const page = await client.search(this.query, {
        limit: PAGE,
        ...(this.cursor ? { cursor: this.cursor } : {}),
      });
      if (generation !== this.generation) return;
      this.cursor = page.nextCursor;
      for (const m of page.messages) this.list.append(this.item(m));
      const n = this.list.childElementCount;
      this.status.textContent =
        n === 0
          ? `Nothing found for “${this.query}”.`
          : `${n}${page.nextCursor ? '+' : ''} result${n === 1 ? '' : 's'} for “${this.query}”`;
      this.more.hidden = page.nextCursor === null;
    } catch (err) {
      if (generation !== this.generation) return;
      this.status.textContent =
        err instanceof ApiError && err.code === 'invalid_request'
          ? `Searches are 1–${MAX_QUERY_CODE_POINTS} characters.`
          : `Search failed: ${err instanceof Error ? err.message : 'error'}`;
      this.more.hidden = this.cursor === null;
    }
  }

  private item(m: Message): HTMLLIElement {
    const room = this.deps.roomName(m.roomId) ?? 'a room';
    return h(
      'li',
      {},
      h(
        'button',
        {
          type: 'button',
          class: 'search-hit',
          'data-room-id': m.roomId,
          'data-seq': m.seq,
          onclick: () => {
            this.close();
            this.deps.open(m.roomId, m.seq);
          },
        },
        h(
          'span',
          { class: 'search-hit-meta' },
          h('span', { class: 'search-hit-room' }, room),
          ' · ',
          h('span', {}, m.name),
          ' · ',
          h('time', {}, formatTime(m.ts)),
        ),
        h('span', { class: 'search-hit-text' }, m.text || (m.attachment ? m.attachment.filename : '')),
      ),
    );
  }
}
