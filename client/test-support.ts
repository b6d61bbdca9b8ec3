import { uniqueName } from '../test/support.ts';
import { ParleyClient, type ChatSocket } from './index.ts';

/** What the client library's tests share: native sessions and connected sockets. */

const PASSWORD = 'client library password';

/** A registered user whose client holds a native session (token, no cookie). */
export async function nativeClient(baseUrl: string, prefix: string): Promise<ParleyClient> {
  const username = uniqueName(prefix);
  await new ParleyClient({ baseUrl }).auth.register(username, PASSWORD);
  const client = new ParleyClient({ baseUrl });
  await client.auth.token(username, PASSWORD);
  return client;
}

/** The client's socket once connected, with quick reconnects; kept in `opened` to close later. */
export async function connectedSocket(client: ParleyClient, opened: ChatSocket[]): Promise<ChatSocket> {
  const socket = client.connect({
    transports: ['websocket'],
    reconnectionDelay: 50,
    reconnectionDelayMax: 100,
  });
  opened.push(socket);
  if (!socket.connected) await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return socket;
}
