import type { Message, MessageAttachment } from '../../core/schemas.ts';
import { formatBytes, formatTime, fullTime, h, icon } from './dom.ts';

/** Rendering of one message. Every user-supplied string goes in as a text node. */

export function messageItem(m: Message, own: boolean, onMediaLoad: () => void): HTMLLIElement {
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
    m.attachment ? attachmentView(m.attachment, onMediaLoad) : null,
  );
}

export function attachmentView(a: MessageAttachment, onMediaLoad: () => void): HTMLElement {
  if (a.mime.startsWith('image/')) {
    const img = h('img', { src: a.url, alt: a.filename, loading: 'lazy', decoding: 'async' });
    img.addEventListener('load', onMediaLoad, { once: true });
    img.addEventListener(
      'error',
      () =>
        img.replaceWith(
          h('span', { class: 'msg-file-missing' }, `Image “${a.filename}” could not be loaded.`),
        ),
      { once: true },
    );
    return h(
      'figure',
      { class: 'msg-image' },
      h('a', { href: a.url, target: '_blank', rel: 'noopener noreferrer', title: `Open ${a.filename}` }, img),
      h('figcaption', {}, `${a.filename} · ${formatBytes(a.bytes)}`),
    );
  }
  return h(
    'a',
    { class: 'msg-file', href: a.url, target: '_blank', rel: 'noopener noreferrer', download: a.filename },
    h('span', { class: 'msg-file-icon' }, icon('file')),
    h('span', { class: 'msg-file-name' }, a.filename),
    h('span', { class: 'msg-file-size' }, `${a.mime} · ${formatBytes(a.bytes)}`),
  );
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
