import { describe, expect, it } from 'vitest';
import { KeyedBatcher } from './batcher.ts';

describe('KeyedBatcher', () => {
  it('runs a lone request at once and gathers what arrives meanwhile into the next batch', async () => {
    const batches: string[][] = [];
    let release: () => void = () => undefined;
    const batcher = new KeyedBatcher<string, string>(async (key, inputs) => {
      batches.push([key, ...inputs]);
      if (batches.length === 1) await new Promise<void>((r) => (release = r));
      return inputs.map((i) => `${key}:${i}`);
    });
    const first = batcher.submit('room', 'a');
    await Promise.resolve();
    await Promise.resolve();
    expect(batches).toEqual([['room', 'a']]); // started without waiting for company
    const later = ['b', 'c', 'd'].map((i) => batcher.submit('room', i));
    const other = batcher.submit('other', 'x'); // another key is not held up
    await expect(other).resolves.toBe('other:x');
    release();
    await expect(first).resolves.toBe('room:a');
    await expect(Promise.all(later)).resolves.toEqual(['room:b', 'room:c', 'room:d']);
    expect(batches).toEqual([
      ['room', 'a'],
      ['other', 'x'],
      ['room', 'b', 'c', 'd'],
    ]);
  });

  it('fails every request of a failed batch, and the next batch runs', async () => {
    let calls = 0;
    const batcher = new KeyedBatcher<number, number>(async (_key, inputs) => {
      calls += 1;
      if (calls === 1) throw new Error('database away');
      return inputs.map((i) => i * 2);
    });
    const failing = [batcher.submit('k', 1), batcher.submit('k', 2)];
    await expect(Promise.all(failing)).rejects.toThrow('database away');
    await expect(Promise.allSettled(failing)).resolves.toMatchObject([
      { status: 'rejected' },
      { status: 'rejected' },
    ]);
    await expect(batcher.submit('k', 21)).resolves.toBe(42);
  });

  it('splits batches at maxBatch', async () => {
    const sizes: number[] = [];
    const batcher = new KeyedBatcher<number, number>(async (_key, inputs) => {
      sizes.push(inputs.length);
      return inputs;
    }, 3);
    await Promise.all(Array.from({ length: 7 }, (_, i) => batcher.submit('k', i)));
    expect(sizes).toEqual([3, 3, 1]);
  });
});
