import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { getHeapSpaceStatistics } from 'node:v8';
import { serveRpc } from './rpc.ts';
import { median } from './stats.ts';

/** `process.memoryUsage()` and V8's used bytes per heap space, read together. */
export type SettledMemory = NodeJS.MemoryUsage & { spaces: Record<string, number> };

/**
 * Preloaded (`--import`) into every server the harness measures, Parley's and the
 * baseline alike, so both report their own CPU time and memory the same way, without a
 * line of benchmark code in the product. Started with --expose-gc, `gc` settles the heap
 * before a memory reading. `profileStart`/`profileStop` take a CPU profile of just a
 * measured window (`npm run bench -- --cpu-prof`), which --cpu-prof for the whole process
 * cannot do: start-up and joins would drown the window.
 */
let inspector: Session | undefined;
if (process.send) {
  serveRpc({
    stats: () => ({
      cpu: process.cpuUsage(),
      mem: process.memoryUsage(),
      at: performance.timeOrigin + performance.now(),
    }),
    gc: async () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (!gc) throw new Error('start the server with --expose-gc');
      // One reading right after a GC is noisy for RSS: freed pages go back to the OS late,
      // and finalizers free more on a later pass. So: GC, let the allocator settle, read;
      // repeat until two readings agree (or 12 passes), and answer the median of the last
      // three, so a reading taken mid-release cannot make a per-socket cost negative.
      const readings: SettledMemory[] = [];
      for (let pass = 0; pass < 12; pass++) {
        gc();
        gc();
        await new Promise((r) => setTimeout(r, 100));
        const spaces = Object.fromEntries(
          getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]),
        );
        readings.push({ ...process.memoryUsage(), spaces });
        const [a, b] = readings.slice(-2);
        if (pass >= 2 && a && b && Math.abs(a.rss - b.rss) < 256 * 1024) break;
      }
      const last = readings.slice(-3);
      const mid = (pick: (m: SettledMemory) => number) => median(last.map(pick));
      return {
        rss: mid((m) => m.rss),
        heapTotal: mid((m) => m.heapTotal),
        heapUsed: mid((m) => m.heapUsed),
        external: mid((m) => m.external),
        arrayBuffers: mid((m) => m.arrayBuffers),
        // The heap by V8 space: code_space is compiled code, which grows when the JIT
        // optimizes (a one-time cost, not a connection's); old_space is what connections hold.
        spaces: Object.fromEntries(
          Object.keys(last[0]!.spaces).map((k) => [k, mid((m) => m.spaces[k] ?? 0)]),
        ),
      };
    },
    profileStart: async () => {
      inspector ??= new Session();
      inspector.connect();
      await inspector.post('Profiler.enable');
      await inspector.post('Profiler.setSamplingInterval', { interval: 200 });
      await inspector.post('Profiler.start');
      return null;
    },
    profileStop: async ({ file }: { file: string }) => {
      if (!inspector) throw new Error('profileStart first');
      const { profile } = await inspector.post('Profiler.stop');
      inspector.disconnect();
      inspector = undefined;
      writeFileSync(file, JSON.stringify(profile));
      return file;
    },
  });
  // The IPC channel must not keep a server alive that wants to exit on SIGTERM.
  process.channel?.unref();
}
