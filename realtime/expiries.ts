import type { ParleySocket } from './types.ts';

/** setTimeout's longest delay; a later expiry is re-armed when this one fires. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * Disconnects each socket when its token expires (a socket lives no longer than the token
 * that opened it), with one timer for the whole instance instead of one per socket: sockets
 * are kept by expiry second (a JWT's `exp`), and the timer is armed for the earliest.
 */
export class Expiries {
  private readonly due = new Map<number, Set<ParleySocket>>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;

  constructor(private readonly now: () => number) {}

  add(socket: ParleySocket, expSeconds: number): void {
    let sockets = this.due.get(expSeconds);
    if (!sockets) this.due.set(expSeconds, (sockets = new Set()));
    sockets.add(socket);
    if (expSeconds < this.armedFor) this.arm(expSeconds);
  }

  remove(socket: ParleySocket, expSeconds: number): void {
    const sockets = this.due.get(expSeconds);
    if (sockets?.delete(socket) && sockets.size === 0) this.due.delete(expSeconds);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.armedFor = Infinity;
  }

  private arm(expSeconds: number): void {
    clearTimeout(this.timer);
    this.armedFor = expSeconds;
    this.timer = setTimeout(
      () => this.fire(),
      Math.max(0, Math.min(expSeconds * 1000 - this.now(), MAX_DELAY_MS)),
    );
    this.timer.unref();
  }

  private fire(): void {
    this.armedFor = Infinity;
    const now = this.now();
    let next = Infinity;
    for (const [exp, sockets] of this.due) {
      if (exp * 1000 > now) {
        next = Math.min(next, exp);
        continue;
      }
      this.due.delete(exp);
      for (const socket of sockets) socket.disconnect(true);
    }
    if (next < Infinity) this.arm(next);
  }
}
