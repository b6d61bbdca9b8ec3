import type { Message } from '../core/schemas.ts';

/** How much of a parent a reply quotes (the contract's `replyTo.text`). */
const QUOTE_CODE_POINTS = 200;

/**
 * One room's loaded history: always a contiguous run of seqs [oldest..newest], so the view
 * can never show a gap. Messages are deduplicated by seq; a live message that would leave a
 * hole is not inserted but reported, and the caller fetches what is missing (afterSeq).
 */
export class Timeline {
  private readonly bySeq = new Map<number, Message>();
  /**
   * Changes (message_updated, catch-up) for messages not loaded yet: a page read before the
   * change committed may arrive after it, so the newer copy waits here until the message does.
   */
  private readonly laterChanges = new Map<number, Message>();
  /** Newest seq known to be loaded (0: the room was empty when we joined). */
  newest = 0;
  /** Oldest seq loaded (0 while nothing is loaded). */
  oldest = 0;
  /** More messages exist before `oldest`. */
  hasOlder = false;

  get size(): number {
    return this.bySeq.size;
  }

  get(seq: number): Message | undefined {
    return this.bySeq.get(seq);
  }

  /** The first load (join without sinceSeq): the newest page of the room. */
  reset(messages: Message[], hasOlder: boolean, lastSeq: number): Message[] {
    this.bySeq.clear();
    this.oldest = 0;
    this.newest = 0;
    const sorted = ascending(messages);
    for (const m of sorted) this.bySeq.set(m.seq, this.current(m));
    this.oldest = sorted[0]?.seq ?? 0;
    this.newest = sorted.at(-1)?.seq ?? Math.max(0, lastSeq);
    this.hasOlder = hasOlder;
    return sorted;
  }

  /** An older page (beforeSeq = oldest): returns what was new. */
  prepend(messages: Message[], hasMore: boolean): Message[] {
    const added: Message[] = [];
    for (const m of ascending(messages)) {
      if (this.bySeq.has(m.seq)) continue;
      const current = this.current(m);
      this.bySeq.set(m.seq, current);
      added.push(current);
      if (this.oldest === 0 || m.seq < this.oldest) this.oldest = m.seq;
      if (m.seq > this.newest) this.newest = m.seq;
    }
    this.hasOlder = hasMore;
    return added;
  }

  /**
   * Messages after `newest` (live, join sinceSeq, afterSeq pages). Inserts the contiguous
   * prefix and returns it; `gap` is true when a message further on was held back.
   */
  append(messages: Message[]): { added: Message[]; gap: boolean } {
    const added: Message[] = [];
    let gap = false;
    for (const m of ascending(messages)) {
      // At or below newest: a duplicate (the loaded run is contiguous) or older than what is
      // loaded, which scrolling up fetches.
      if (m.seq <= this.newest) continue;
      if (m.seq !== this.newest + 1) {
        gap = true;
        break;
      }
      const current = this.current(m);
      this.bySeq.set(m.seq, current);
      this.newest = m.seq;
      if (this.oldest === 0) this.oldest = m.seq;
      added.push(current);
    }
    return { added, gap };
  }

  /**
   * A message's newer state (an edit, a delete, a reaction): replaces the held copy when its
   * `version` is higher, never goes back. Returns the message to show, or undefined when
   * nothing changed on screen (older or equal version, or not loaded: kept for when it is).
   */
  update(m: Message): Message | undefined {
    const held = this.bySeq.get(m.seq);
    if (!held) {
      const waiting = this.laterChanges.get(m.seq);
      if (!waiting || waiting.version < m.version) this.laterChanges.set(m.seq, m);
      return undefined;
    }
    if (held.version >= m.version) return undefined;
    this.bySeq.set(m.seq, m);
    return m;
  }

  /**
   * A reply's quote is read from its parent at every read (the reply's version does not
   * change): after the parent changed, the held replies quote it as it is now, as a fresh
   * history read would. Returns the replies whose quote changed.
   */
  requote(parent: Message): Message[] {
    const text = parent.deletedAt !== null ? '' : [...parent.text].slice(0, QUOTE_CODE_POINTS).join('');
    const changed: Message[] = [];
    for (const [seq, m] of this.bySeq) {
      if (m.replyTo?.id !== parent.id || m.replyTo.text === text) continue;
      const requoted = { ...m, replyTo: { ...m.replyTo, text } };
      this.bySeq.set(seq, requoted);
      changed.push(requoted);
    }
    return changed;
  }

  /** `m` or the newer copy of it that a change brought before it was loaded. */
  private current(m: Message): Message {
    const waiting = this.laterChanges.get(m.seq);
    if (!waiting) return m;
    this.laterChanges.delete(m.seq);
    return waiting.version > m.version ? waiting : m;
  }

  /** Messages in seq order. */
  messages(): Message[] {
    return this.seqs().map((s) => this.bySeq.get(s)!);
  }

  /** Seqs in display order, for tests and invariants. */
  seqs(): number[] {
    return [...this.bySeq.keys()].sort((a, b) => a - b);
  }
}

const ascending = (messages: Message[]): Message[] => [...messages].sort((a, b) => a.seq - b.seq);
