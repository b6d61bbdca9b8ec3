import type { ChildProcess } from 'node:child_process';

/**
 * A minimal request/response protocol over Node's IPC channel, so the harness can drive
 * servers and load generators that run in their own processes (and on their own cores).
 */

interface Request {
  rpc: 'req';
  id: number;
  cmd: string;
  args: unknown;
}
interface Response {
  rpc: 'res';
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export type Handlers = Record<string, (args: never) => unknown>;

/** Child side: answers requests from the parent with the named handler. */
export function serveRpc(handlers: Handlers): void {
  if (!process.send) throw new Error('serveRpc needs an IPC channel (start the process with fork)');
  process.on('message', (raw: unknown) => {
    const m = raw as Partial<Request>;
    if (m?.rpc !== 'req' || typeof m.id !== 'number' || typeof m.cmd !== 'string') return;
    const handler = handlers[m.cmd] as ((args: unknown) => unknown) | undefined;
    const reply = (r: Omit<Response, 'rpc' | 'id'>) => process.send?.({ rpc: 'res', id: m.id, ...r });
    if (!handler) {
      reply({ ok: false, error: `unknown command ${m.cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(m.args))
      .then(
        (result) => reply({ ok: true, result }),
        (err: unknown) =>
          reply({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
}

/** Parent side: a typed call into a forked child. */
export class RpcClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(
    readonly child: ChildProcess,
    readonly name: string,
  ) {
    child.on('message', (raw: unknown) => {
      const m = raw as Partial<Response>;
      if (m?.rpc !== 'res' || typeof m.id !== 'number') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`${this.name}: ${m.error}`));
    });
    child.on('exit', (code, signal) => {
      for (const p of this.pending.values()) p.reject(new Error(`${this.name} exited (${code ?? signal})`));
      this.pending.clear();
    });
  }

  call<T>(cmd: string, args: unknown = {}, timeoutMs = 120_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      const failed = (err: Error | null) => {
        if (!err || !this.pending.has(id)) return;
        this.pending.get(id)!.reject(new Error(`${this.name}: ${cmd}: ${err.message}`));
        this.pending.delete(id);
      };
      if (!this.child.connected) return failed(new Error('the process has exited'));
      this.child.send({ rpc: 'req', id, cmd, args } satisfies Request, failed);
    });
  }
}
