import type { RoomListEntry } from '../../core/schemas.ts';
import { h, replaceChildren } from './dom.ts';

/** A direct room is named "a, b" by the server: show the other person. */
export function roomTitle(room: { name: string; kind: string }, myName: string): string {
  if (room.kind !== 'direct') return room.name;
  const others = room.name.split(', ').filter((n) => n.toLowerCase() !== myName.toLowerCase());
  return others.length === 1 ? others[0]! : room.name;
}

/**
 * The sidebar's list: one link per room, newest activity first, with the server's unread
 * count as a badge and the last message as a preview. The open room has no badge (what is
 * on screen is being read).
 */
export function renderRoomList(
  list: HTMLUListElement,
  rooms: RoomListEntry[],
  current: string | undefined,
  myName: string,
): void {
  if (rooms.length === 0) {
    replaceChildren(list, h('li', { class: 'muted empty' }, 'No rooms yet. Create one below.'));
    return;
  }
  replaceChildren(
    list,
    ...rooms.map((room) => {
      const open = room.id === current;
      const unread = open ? 0 : room.unread;
      const title = roomTitle(room, myName);
      // An `activity` event says a newer message exists without its text: no stale preview.
      const preview = room.lastMessage && room.lastMessage.seq === room.lastSeq ? room.lastMessage : null;
      return h(
        'li',
        { 'data-room-id': room.id },
        h(
          'a',
          {
            href: `#room/${encodeURIComponent(room.id)}`,
            'aria-current': open ? 'page' : undefined,
            class: unread > 0 ? 'unread' : undefined,
          },
          h(
            'span',
            { class: 'room-line' },
            h('span', { class: 'room-name' }, room.kind === 'direct' ? `@ ${title}` : title),
            unread > 0
              ? h(
                  'span',
                  { class: 'badge count', 'data-testid': 'unread' },
                  unread > 99 ? '99+' : String(unread),
                  h(
                    'span',
                    { class: 'visually-hidden' },
                    unread === 1 ? ' unread message' : ' unread messages',
                  ),
                )
              : null,
          ),
          preview
            ? h(
                'span',
                { class: 'room-preview' },
                `${preview.name}: ${preview.text || (preview.seq > 0 ? '…' : '')}`,
              )
            : null,
        ),
      );
    }),
  );
}
