import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { serveRpc } from './rpc.ts';

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
    gc: () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (!gc) throw new Error('start the server with --expose-gc');
      // Several passes: weak references and finalizers free more on the second.
      gc();
      gc();
      return process.memoryUsage();
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
