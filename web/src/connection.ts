import { Connection, type NetworkSignal } from '../../client/connection.ts';
import { openSocket } from '../../client/socket.ts';
import { apiBase } from './client.ts';

export type { ConnectionState } from '../../client/connection.ts';
export { Connection };

/** The browser's view of the network. */
const browserNetwork: NetworkSignal = {
  online: () => navigator.onLine,
  subscribe(onChange) {
    const offline = () => onChange(false);
    const online = () => onChange(true);
    window.addEventListener('offline', offline);
    window.addEventListener('online', online);
    return () => {
      window.removeEventListener('offline', offline);
      window.removeEventListener('online', online);
    };
  },
};

/** The page's realtime connection: the handshake carries the httpOnly cookie. */
export function browserConnection(onUnauthorized: () => void): Connection {
  return new Connection(openSocket(apiBase), { onUnauthorized, network: browserNetwork });
}
