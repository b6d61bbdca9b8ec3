import type { Message } from '../../core/schemas.ts';
import { client } from './client.ts';
import { h, replaceChildren } from './dom.ts';

export interface HistoryWindowDeps {
  roomId: string;
  /** One message's element (the room's own renderer, actions included). */
  render(m: Message): HTMLLIElement;
  /** "Back to the latest": the live timeline again. */
  onClose(): void;
  notify(text: string): void;
}

const PAGE = 25;

/**
 * A message far back in a room (a search result), shown with the history around it: a page
 * before it (`beforeSeq`) and one after (`afterSeq`), more of either on demand. It stands in
 * for the live timeline, which stays one contiguous run from the newest message and is not
 * paged all the way down; "Back to the latest" returns to it. Items here are a snapshot:
 * a change made meanwhile shows when the room's timeline gets there.
 */
export class HistoryWindow {
  readonly element: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly olderButton: HTMLButtonElement;
  private readonly newerButton: HTMLButtonElement;
  private oldest = 0;
  private newest = 0;

  constructor(private readonly deps: HistoryWindowDeps) {
    this.list = h('ol', { class: 'messages', 'aria-label': 'Messages around the result' });
    this.olderButton = h(
      'button',
      { type: 'button', class: 'link-button', hidden: true, onclick: () => void this.older() },
      'Load older messages',
    );
    this.newerButton = h(
      'button',
      { type: 'button', class: 'link-button', hidden: true, onclick: () => void this.newer() },
      'Load newer messages',
    );
    this.element = h(
      'div',
      { class: 'history-window scroller', tabindex: '0', role: 'log', 'aria-label': 'Older messages' },
      h(
        'div',
        { class: 'history-window-bar', role: 'status' },
        h('span', {}, 'You are looking at older messages.'),
        h(
          'button',
          { type: 'button', class: 'link-button', onclick: () => deps.onClose() },
          'Back to the latest',
        ),
      ),
      h('div', { class: 'older' }, this.olderButton),
      this.list,
      h('div', { class: 'older' }, this.newerButton),
    );
  }

  /** Loads the pages around `seq` and shows it highlighted; false when it is not there. */
  async open(seq: number): Promise<boolean> {
    const [before, after] = await Promise.all([
      client.messages.history(this.deps.roomId, { beforeSeq: seq + 1, limit: PAGE }),
      client.messages.history(this.deps.roomId, { afterSeq: seq, limit: PAGE }),
    ]);
    const messages = [...before.messages, ...after.messages];
    replaceChildren(this.list, ...messages.map((m) => this.deps.render(m)));
    this.oldest = messages[0]?.seq ?? seq;
    this.newest = messages.at(-1)?.seq ?? seq;
    this.olderButton.hidden = !before.hasMore;
    this.newerButton.hidden = !after.hasMore;
    const item = this.list.querySelector<HTMLElement>(`li.msg[data-seq="${seq}"]`);
    if (!item) return false;
    item.classList.add('highlight');
    item.setAttribute('tabindex', '-1');
    requestAnimationFrame(() => {
      item.scrollIntoView({ block: 'center' });
      item.focus({ preventScroll: true });
    });
    return true;
  }

  private async older(): Promise<void> {
    const page = await this.page({ beforeSeq: this.oldest });
    if (!page) return;
    const height = this.element.scrollHeight;
    const top = this.element.scrollTop;
    this.list.prepend(...page.messages.map((m) => this.deps.render(m)));
    this.oldest = page.messages[0]?.seq ?? this.oldest;
    this.olderButton.hidden = !page.hasMore;
    this.element.scrollTop = top + (this.element.scrollHeight - height);
  }

  private async newer(): Promise<void> {
    const page = await this.page({ afterSeq: this.newest });
    if (!page) return;
    this.list.append(...page.messages.map((m) => this.deps.render(m)));
    this.newest = page.messages.at(-1)?.seq ?? this.newest;
    // The newest page reached: the live timeline carries on from here.
    if (!page.hasMore) this.deps.onClose();
  }

  private async page(cursor: { beforeSeq: number } | { afterSeq: number }) {
    try {
      return await client.messages.history(this.deps.roomId, { ...cursor, limit: PAGE });
    } catch (err) {
      this.deps.notify(`Messages could not be loaded: ${err instanceof Error ? err.message : 'error'}`);
      return undefined;
    }
  }
}
