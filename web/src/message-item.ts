import type { Message, MessageAttachment } from '../../core/schemas.ts';
import { formatBytes, formatTime, fullTime, h, icon } from './dom.ts';

/** Rendering of one message. Every user-supplied string goes in as a text node. */

/**
 * Signed download URLs expire (15 minutes by default): this fetches the message again for
 * a fresh one. Undefined when it cannot.
 */
export type UrlRefresher = () => Promise<string | undefined>;
const noRefresh: UrlRefresher = async () => undefined;

export function messageItem(
  m: Message,
  own: boolean,
  onMediaLoad: () => void,
  refreshUrl: UrlRefresher = noRefresh,
): HTMLLIElement {
  return h(
    'li',
    { class: own ? 'msg own' : 'msg', 'data-seq': m.seq, 'data-id': m.id },
    h(
      'div',
      { class: 'msg-meta' },
      h('span', { class: 'msg-author' }, own ? `${m.name} (you)` : m.name),
      h('time', { datetime: fullTime(m.ts), title: new Date(m.ts).toLocaleString() }, formatTime(m.ts)),
    ),
    m.text ? h('p', { class: 'msg-text' }, m.text) : null,
    m.attachment ? attachmentView(m.attachment, onMediaLoad, refreshUrl) : null,
  );
}

export function attachmentView(
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
