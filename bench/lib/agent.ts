import { serveRpc } from './rpc.ts';

/**
 * Preloaded (`--import`) into every server the harness measures, Parley's and the
 * baseline alike, so both report their own CPU time and memory the same way, without a
 * line of benchmark code in the product. Started with --expose-gc, `gc` settles the heap
 * before a memory reading.
 */
if (process.send) {
  serveRpc({
    stats: () => ({
      cpu: process.cpuUsage(),
      mem: process.memoryUsage(),
      at: performance.timeOrigin + performance.now(),
    }),
    gc: () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (!gc) throw new Error('start the server with --expose-gc');
      // Several passes: weak references and finalizers free more on the second.
      gc();
      gc();
      return process.memoryUsage();
    },
  });
  // The IPC channel must not keep a server alive that wants to exit on SIGTERM.
  process.channel?.unref();
}
