/**
 * Concurrent requests for the same key served by one call, group-commit style: the first
 * request of a key starts a batch at once (a lone request waits for nothing), and whatever
 * arrives while a batch runs forms the next one. A join storm of 1,000 users into one room so
 * costs a handful of database statements and Redis round trips instead of thousands.
 *
 * Every request of a batch was submitted before the batch started: a batch that reads
 * history after its requesters entered the room is, for each of them, a read made after
 * they entered (realtime/handlers.ts relies on that).
 */
export class KeyedBatcher<I, O> {
  private readonly queued = new Map<
    string,
    { input: I; resolve: (o: O) => void; reject: (err: unknown) => void }[]
  >();
  private readonly running = new Set<string>();

  constructor(
    /** One result per input, in order. */
    private readonly run: (key: string, inputs: I[]) => Promise<O[]>,
    private readonly maxBatch = 1_000,
  ) {}

  submit(key: string, input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      let queue = this.queued.get(key);
      if (!queue) this.queued.set(key, (queue = []));
      queue.push({ input, resolve, reject });
      if (!this.running.has(key)) {
        this.running.add(key);
        // A microtask later: requests submitted in the same tick share the first batch.
        queueMicrotask(() => void this.flush(key));
      }
    });
  }

  private async flush(key: string): Promise<void> {
    const queue = this.queued.get(key) ?? [];
    const batch = queue.splice(0, this.maxBatch);
    if (queue.length === 0) this.queued.delete(key);
    try {
      const out = await this.run(
        key,
        batch.map((b) => b.input),
      );
      batch.forEach((b, i) => b.resolve(out[i]!));
    } catch (err) {
      for (const b of batch) b.reject(err);
    } finally {
      if (this.queued.get(key)?.length) void this.flush(key);
      else this.running.delete(key);
    }
  }
}
