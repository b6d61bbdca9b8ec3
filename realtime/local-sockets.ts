import type { ParleyServer, ParleySocket } from './types.ts';

/** This instance's sockets in a Socket.IO room (the adapter's other instances not included). */
export function localSockets(io: ParleyServer, channel: string): ParleySocket[] {
  const nsp = io.of('/');
  const ids = nsp.adapter.rooms.get(channel) ?? new Set<string>();
  return [...ids].map((id) => nsp.sockets.get(id)).filter((s): s is ParleySocket => s !== undefined);
}
