import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Message } from '../core/schemas.ts';
import { Timeline } from './timeline.ts';

const msg = (seq: number): Message => ({
  id: `m${seq}`,
  roomId: 'r',
  seq,
  userId: 'u',
  name: 'u',
  text: `text ${seq}`,
  ts: 1_000 + seq,
  clientMsgId: null,
  attachment: null,
  version: seq,
  editedAt: null,
  deletedAt: null,
  replyTo: null,
  reactions: [],
});
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => msg(from + i));

describe('Timeline', () => {
  it('starts from the newest page and knows whether older messages exist', () => {
    const t = new Timeline();
    t.reset(range(51, 100), true, 100);
    expect([t.oldest, t.newest, t.hasOlder]).toEqual([51, 100, true]);
  });

  it('keeps an empty room at the room lastSeq so the first live message is not a gap', () => {
    const t = new Timeline();
    t.reset([], false, 0);
    expect(t.append([msg(1)])).toEqual({ added: [msg(1)], gap: false });
  });

  it('drops duplicates and reports a gap instead of showing past it', () => {
    const t = new Timeline();
    t.reset(range(1, 3), false, 3);
    expect(t.append([msg(3)]).added).toEqual([]);
    expect(t.append([msg(5)])).toEqual({ added: [], gap: true });
    expect(t.append(range(4, 6))).toEqual({ added: range(4, 6), gap: false });
    expect(t.seqs()).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('prepends older pages without duplicates', () => {
    const t = new Timeline();
    t.reset(range(51, 60), true, 60);
    expect(t.prepend(range(41, 52), true).map((m) => m.seq)).toEqual(range(41, 50).map((m) => m.seq));
    expect([t.oldest, t.hasOlder]).toEqual([41, true]);
  });

  it('takes a newer version of a held message, never an older one, and keeps changes for messages not loaded yet', () => {
    const t = new Timeline();
    t.reset(range(1, 3), false, 3);
    const edited = { ...msg(2), text: 'edited', version: 10 };
    expect(t.update(edited)).toEqual(edited);
    expect(t.update({ ...msg(2), version: 9 })).toBeUndefined();
    expect(t.update(edited)).toBeUndefined();
    expect(t.get(2)?.text).toBe('edited');
    // A change to seq 4 that overtook the page bringing seq 4 (read before the change).
    const later = { ...msg(4), text: 'changed', version: 20 };
    expect(t.update(later)).toBeUndefined();
    expect(t.append([msg(4)]).added).toEqual([later]);
    expect(t.messages().map((m) => m.text)).toEqual(['text 1', 'edited', 'text 3', 'changed']);
  });

  it('shows a contiguous, duplicate-free run whatever order and repetition deliveries come in', () => {
    let grown = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 30 }),
        fc.array(fc.array(fc.integer({ min: 1, max: 60 }), { maxLength: 8 }), { maxLength: 30 }),
        (start, batches) => {
          const t = new Timeline();
          t.reset(start > 0 ? [msg(start)] : [], start > 1, start);
          const delivered = new Set<number>(start > 0 ? [start] : []);
          for (const batch of batches) {
            batch.forEach((s) => delivered.add(s));
            const { gap } = t.append(batch.map(msg));
            // What a client does on a gap: fetch afterSeq = newest, and the server has every
            // seq up to the newest delivered (at least).
            if (gap) {
              const fetched = range(t.newest + 1, Math.max(...delivered));
              fetched.forEach((m) => delivered.add(m.seq));
              t.append(fetched);
            }
          }
          const seqs = t.seqs();
          expect(new Set(seqs).size).toBe(seqs.length);
          seqs.forEach((s, i) => i > 0 && expect(s).toBe(seqs[i - 1]! + 1));
          if (seqs.length > 0) expect(seqs.at(-1)).toBe(t.newest);
          // Nothing delivered is dropped: the run reaches at least as far as the delivered
          // seqs continue without a hole from where it started.
          let reach = start;
          while (delivered.has(reach + 1)) reach += 1;
          expect(t.newest).toBeGreaterThanOrEqual(reach);
          if (start > 0) expect(seqs[0]).toBe(start);
          if (seqs.length > 5) grown += 1;
        },
      ),
    );
    // The property is about timelines that grew, not about empty ones.
    expect(grown).toBeGreaterThan(10);
  });
});
