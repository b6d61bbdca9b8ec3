import type { Message, MessageAttachment } from '../../core/schemas.ts';
import { formatBytes, formatTime, fullTime, h, icon } from './dom.ts';

/**
 * Signed download URLs expire (15 minutes by default): this fetches the message again for
 * a fresh one. Undefined when it cannot.
 */
type UrlRefresher = () => Promise<string | undefined>;
const noRefresh: UrlRefresher = async () => undefined;

/** What a message item needs from its view: who is looking, and what its actions do. */
export interface MessageContext {
  meId: string;
  /** The room's owner may delete anyone's message (the server allows the author or the owner). */
  canDeleteOthers(): boolean;
  onMediaLoad(): void;
  refreshUrl?: UrlRefresher;
  /** A user's name for the reaction chips' titles (members and authors seen). */
  nameOf(userId: string): string;
  /** A loaded message by seq (a quoted parent), if loaded. */
  loaded(seq: number): Message | undefined;
  actions: MessageItemActions;
}

interface MessageItemActions {
  /** Resolves when stored; rejects with a reason to show. */
  edit(m: Message, text: string): Promise<void>;
  delete(m: Message): Promise<void>;
  react(m: Message, emoji: string, on: boolean): Promise<void>;
  reply(m: Message): void;
  /** Scrolls to (loading if needed) and highlights the message with this seq. */
  jumpTo(seq: number): void;
  notify(text: string): void;
}

/** The picker's emoji: what people use most. */
const FREQUENT_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀'] as const;
const LONG_PRESS_MS = 500;
const QUOTE_CHARS = 120;

/**
 * One message: meta line (author, time, "edited"), the quoted parent of a reply, the text
 * with its links, the attachment, reaction chips, and the actions (react, reply, edit,
 * delete) shown on hover, on focus within (keyboard) and on a long press (touch). A deleted
 * message is a tombstone. Every user-supplied string goes in as a text node.
 */
export function messageItem(m: Message, ctx: MessageContext): HTMLLIElement {
  const own = m.userId === ctx.meId;
  const deleted = m.deletedAt !== null;
  const item = h('li', {
    class: `msg${own ? ' own' : ''}${deleted ? ' deleted' : ''}`,
    'data-seq': m.seq,
    'data-id': m.id,
    'data-version': m.version,
    'data-user': m.userId,
    'data-ts': m.ts,
  });
  const meta = h(
    'div',
    { class: 'msg-meta' },
    h('span', { class: 'msg-author' }, own ? `${m.name} (you)` : m.name),
    h('time', { datetime: fullTime(m.ts), title: new Date(m.ts).toLocaleString() }, formatTime(m.ts)),
    m.editedAt !== null && !deleted
      ? h('span', { class: 'msg-edited', title: `Edited ${new Date(m.editedAt).toLocaleString()}` }, 'edited')
      : null,
  );
  item.append(meta);
  if (deleted) {
    item.append(h('p', { class: 'msg-tombstone' }, 'message deleted'));
    return item;
  }
  if (m.replyTo) item.append(quoteView(m.replyTo, ctx));
  const body = m.text ? h('p', { class: 'msg-text' }, ...linkify(m.text)) : null;
  if (body) item.append(body);
  if (m.attachment) item.append(attachmentView(m.attachment, ctx.onMediaLoad, ctx.refreshUrl ?? noRefresh));
  if (m.reactions.length > 0) item.append(reactionChips(m, ctx));
  item.append(toolbar(m, item, body, ctx));

  // Touch: a long press shows the actions (hover does on a mouse, focus on a keyboard).
  let press: ReturnType<typeof setTimeout> | undefined;
  item.addEventListener('pointerdown', (e) => {
    if (e.pointerType !== 'touch') return;
    press = setTimeout(() => {
      item.classList.add('show-actions');
      // A touch anywhere else hides them again.
      const away = (ev: PointerEvent) => {
        if (item.contains(ev.target as Node)) return;
        item.classList.remove('show-actions');
        document.removeEventListener('pointerdown', away, true);
      };
      document.addEventListener('pointerdown', away, true);
    }, LONG_PRESS_MS);
  });
  for (const type of ['pointerup', 'pointercancel', 'pointermove'] as const) {
    item.addEventListener(type, () => clearTimeout(press));
  }
  return item;
}

function quoteView(parent: NonNullable<Message['replyTo']>, ctx: MessageContext): HTMLElement {
  // An empty excerpt is a deleted parent or one with only an attachment: the loaded copy tells.
  const held = ctx.loaded(parent.seq);
  const excerpt =
    parent.text !== ''
      ? shorten(parent.text, QUOTE_CHARS)
      : !held
        ? 'attachment or deleted message'
        : held.attachment && held.deletedAt === null
          ? held.attachment.filename
          : 'message deleted';
  return h(
    'button',
    {
      type: 'button',
      class: 'msg-quote',
      'data-parent-seq': parent.seq,
      'aria-label': `Reply to ${parent.name}: ${excerpt}. Show the message`,
      onclick: () => ctx.actions.jumpTo(parent.seq),
    },
    h('span', { class: 'msg-quote-author' }, parent.name),
    h('span', { class: 'msg-quote-text' }, excerpt),
  );
}

function reactionChips(m: Message, ctx: MessageContext): HTMLElement {
  return h(
    'div',
    { class: 'msg-reactions', role: 'group', 'aria-label': 'Reactions' },
    ...m.reactions.map((r) => {
      const mine = r.userIds.includes(ctx.meId);
      const names = r.userIds.map((id) => (id === ctx.meId ? 'you' : ctx.nameOf(id))).join(', ');
      return h(
        'button',
        {
          type: 'button',
          class: 'reaction-chip',
          'aria-pressed': mine ? 'true' : 'false',
          'aria-label': `${r.emoji} ${r.count}: ${names}`,
          title: names,
          'data-emoji': r.emoji,
          onclick: () => void run(ctx, () => ctx.actions.react(m, r.emoji, !mine)),
        },
        h('span', { class: 'reaction-emoji' }, r.emoji),
        h('span', { class: 'reaction-count' }, r.count),
      );
    }),
  );
}

function toolbar(
  m: Message,
  item: HTMLLIElement,
  body: HTMLElement | null,
  ctx: MessageContext,
): HTMLElement {
  const own = m.userId === ctx.meId;
  const picker = h(
    'div',
    { class: 'reaction-picker', role: 'group', 'aria-label': 'Pick a reaction', hidden: true },
    ...FREQUENT_EMOJI.map((emoji) =>
      h(
        'button',
        {
          type: 'button',
          'aria-label': `React with ${emoji}`,
          onclick: () => {
            picker.hidden = true;
            const mine = m.reactions.some((r) => r.emoji === emoji && r.userIds.includes(ctx.meId));
            void run(ctx, () => ctx.actions.react(m, emoji, !mine));
          },
        },
        emoji,
      ),
    ),
  );
  picker.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    picker.hidden = true;
    reactButton.focus();
  });
  const reactButton = h(
    'button',
    {
      type: 'button',
      class: 'msg-action',
      'aria-label': 'Add reaction',
      title: 'Add reaction',
      onclick: () => {
        picker.hidden = !picker.hidden;
        picker.querySelector('button')?.focus();
      },
    },
    '☺',
  );
  const bar = h(
    'div',
    { class: 'msg-toolbar', role: 'group', 'aria-label': 'Message actions' },
    reactButton,
    h(
      'button',
      {
        type: 'button',
        class: 'msg-action',
        'aria-label': 'Reply',
        title: 'Reply',
        onclick: () => ctx.actions.reply(m),
      },
      '↩',
    ),
    own && body
      ? h(
          'button',
          {
            type: 'button',
            class: 'msg-action',
            'aria-label': 'Edit',
            title: 'Edit',
            onclick: () => startEdit(m, item, body, ctx),
          },
          '✎',
        )
      : null,
    own || ctx.canDeleteOthers()
      ? h(
          'button',
          {
            type: 'button',
            class: 'msg-action',
            'aria-label': 'Delete',
            title: 'Delete',
            onclick: () => confirmDelete(m, item, ctx),
          },
          '🗑',
        )
      : null,
    picker,
  );
  return bar;
}

/** Inline editing: Enter saves, Shift+Enter breaks the line, Esc cancels. */
function startEdit(m: Message, item: HTMLLIElement, body: HTMLElement, ctx: MessageContext): void {
  if (item.dataset.editing) return;
  item.dataset.editing = 'true';
  const box = h('textarea', {
    class: 'msg-edit-box',
    'aria-label': 'Edit message',
    maxlength: 4000,
    rows: 2,
  });
  box.value = m.text;
  const status = h('span', { class: 'msg-state', role: 'status' });
  const finish = () => {
    delete item.dataset.editing;
    form.replaceWith(body);
    item.dispatchEvent(new CustomEvent('editend'));
  };
  const save = async () => {
    const text = box.value.trim();
    if (text === '' || text === m.text) return finish();
    box.disabled = true;
    status.textContent = 'Saving…';
    try {
      await ctx.actions.edit(m, text);
      finish();
    } catch (err) {
      box.disabled = false;
      status.textContent = `Not saved: ${err instanceof Error ? err.message : 'error'}`;
      box.focus();
    }
  };
  const form = h(
    'form',
    { class: 'msg-edit', 'aria-label': 'Edit message' },
    box,
    h(
      'div',
      { class: 'msg-edit-actions' },
      h('span', { class: 'muted' }, 'Enter to save · Esc to cancel'),
      status,
      h('button', { type: 'button', class: 'link-button', onclick: finish }, 'Cancel'),
      h('button', { type: 'submit', class: 'link-button' }, 'Save'),
    ),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void save();
  });
  box.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      finish();
    } else if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      void save();
    }
  });
  body.replaceWith(form);
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
}

function confirmDelete(m: Message, item: HTMLLIElement, ctx: MessageContext): void {
  if (item.querySelector('.msg-confirm')) return;
  const cancel = h('button', { type: 'button', class: 'link-button', onclick: () => box.remove() }, 'Cancel');
  const box = h(
    'div',
    { class: 'msg-confirm', role: 'alertdialog', 'aria-label': 'Delete this message?' },
    h('span', {}, 'Delete this message for everyone?'),
    h(
      'button',
      {
        type: 'button',
        class: 'link-button msg-delete-confirm',
        onclick: () => {
          box.remove();
          void run(ctx, () => ctx.actions.delete(m));
        },
      },
      'Delete',
    ),
    cancel,
  );
  box.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') box.remove();
  });
  item.append(box);
  cancel.focus();
}

async function run(ctx: MessageContext, action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    ctx.actions.notify(`That did not work: ${err instanceof Error ? err.message : 'error'}`);
  }
}

const shorten = (text: string, max: number): string => {
  const chars = [...text];
  return chars.length > max ? `${chars.slice(0, max).join('')}…` : text;
};

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"]+/gi;
const TRAILING = /[.,;:!?'")\]}]+$/;

/**
 * Text with its http(s) links as anchors, built with DOM calls (never markup): anything else
 * that looks like a link (javascript:, data:, …) stays text. Links open in a new tab without
 * an opener or a referrer.
 */
function linkify(text: string): (string | HTMLAnchorElement)[] {
  const parts: (string | HTMLAnchorElement)[] = [];
  let at = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    let raw = match[0];
    const trailing = TRAILING.exec(raw)?.[0] ?? '';
    raw = raw.slice(0, raw.length - trailing.length);
    const url = safeUrl(raw);
    if (!url) continue;
    if (match.index > at) parts.push(text.slice(at, match.index));
    parts.push(h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', class: 'msg-link' }, raw));
    at = match.index + raw.length;
  }
  if (at < text.length) parts.push(text.slice(at));
  return parts;
}

function safeUrl(raw: string): string | undefined {
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

function attachmentView(
  a: MessageAttachment,
  onMediaLoad: () => void,
  refreshUrl: UrlRefresher = noRefresh,
): HTMLElement {
  if (a.mime.startsWith('image/')) {
    const img = h('img', { src: a.url, alt: a.filename, loading: 'lazy', decoding: 'async' });
    const link = h(
      'a',
      { href: a.url, target: '_blank', rel: 'noopener noreferrer', title: `Open ${a.filename}` },
      img,
    );
    img.addEventListener('load', onMediaLoad, { once: true });
    let retried = false;
    const fail = () =>
      img.replaceWith(h('span', { class: 'msg-file-missing' }, `Image “${a.filename}” could not be loaded.`));
    // A lazy image first requested after its URL expired: load it again with a fresh one.
    img.addEventListener('error', () => {
      if (retried) return fail();
      retried = true;
      void refreshUrl().then((url) => {
        if (!url) return fail();
        img.src = url;
        link.href = url;
      });
    });
    openFresh(link, refreshUrl);
    return h(
      'figure',
      { class: 'msg-image' },
      link,
      h('figcaption', {}, `${a.filename} · ${formatBytes(a.bytes)}`),
    );
  }
  const link = h(
    'a',
    { class: 'msg-file', href: a.url, target: '_blank', rel: 'noopener noreferrer', download: a.filename },
    h('span', { class: 'msg-file-icon' }, icon('file')),
    h('span', { class: 'msg-file-name' }, a.filename),
    h('span', { class: 'msg-file-size' }, `${a.mime} · ${formatBytes(a.bytes)}`),
  );
  openFresh(link, refreshUrl);
  return link;
}

/** Clicking a link whose signature has (nearly) expired opens a freshly signed URL instead. */
function openFresh(link: HTMLAnchorElement, refreshUrl: UrlRefresher): void {
  link.addEventListener('click', (e) => {
    const expires = signedUrlExpiry(link.href);
    if (expires === undefined || expires - Date.now() > 10_000) return;
    e.preventDefault();
    // Within the click's transient activation (5 s in Chromium), so the new tab is allowed.
    void refreshUrl().then((url) => {
      if (!url) return;
      link.href = url;
      window.open(url, '_blank', 'noopener,noreferrer');
    });
  });
}

/** When a SigV4 presigned URL stops working (X-Amz-Date + X-Amz-Expires), if it is one. */
export function signedUrlExpiry(url: string): number | undefined {
  let q: URLSearchParams;
  try {
    q = new URL(url).searchParams;
  } catch {
    return undefined;
  }
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(q.get('X-Amz-Date') ?? '');
  const seconds = Number(q.get('X-Amz-Expires'));
  if (!m || !Number.isFinite(seconds) || seconds <= 0) return undefined;
  const [, y, mo, d, hh, mm, ss] = m.map(Number) as [number, number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, hh, mm, ss) + seconds * 1000;
}

export interface PendingView {
  item: HTMLLIElement;
  setState(state: 'sending' | 'failed', reason?: string): void;
}

export function pendingItem(
  name: string,
  text: string,
  attachment: MessageAttachment | null,
  actions: { retry: () => void; discard: () => void },
): PendingView {
  const status = h('span', { class: 'msg-state' }, 'Sending…');
  const retry = h('button', { type: 'button', class: 'link-button', onclick: actions.retry }, 'Retry');
  const discard = h('button', { type: 'button', class: 'link-button', onclick: actions.discard }, 'Discard');
  const controls = h('span', { class: 'msg-actions', hidden: true }, retry, ' · ', discard);
  const item = h(
    'li',
    { class: 'msg own pending', 'aria-live': 'polite' },
    h('div', { class: 'msg-meta' }, h('span', { class: 'msg-author' }, `${name} (you)`), status, controls),
    text ? h('p', { class: 'msg-text' }, text) : null,
    attachment ? attachmentView(attachment, () => undefined) : null,
  );
  return {
    item,
    setState(state, reason) {
      item.classList.toggle('failed', state === 'failed');
      status.textContent = state === 'sending' ? 'Sending…' : `Not sent${reason ? `: ${reason}` : ''}`;
      controls.hidden = state !== 'failed';
    },
  };
}
