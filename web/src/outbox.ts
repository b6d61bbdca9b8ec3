import type { Outbox, PendingMessage } from '../../client/outbox.ts';
import { pendingItem, type PendingView } from './message-item.ts';

/**
 * Shows the client library's outbox: each pending message as "Sending…" below the
 * confirmed ones, "Not sent" with Retry and Discard when it failed, gone once stored.
 */
export function pendingListView(
  list: HTMLOListElement,
  username: string,
  outbox: () => Outbox,
): (message: PendingMessage, change: 'added' | 'state' | 'removed') => void {
  const views = new Map<string, PendingView>();
  return (p, change) => {
    if (change === 'added') {
      const view = pendingItem(username, p.text, p.attachment, {
        retry: () => outbox().retry(p.clientMsgId),
        discard: () => outbox().discard(p.clientMsgId),
      });
      views.set(p.clientMsgId, view);
      list.append(view.item);
    } else if (change === 'state') {
      views.get(p.clientMsgId)?.setState(p.state, p.reason);
    } else {
      views.get(p.clientMsgId)?.item.remove();
      views.delete(p.clientMsgId);
    }
  };
}
