import type { ReadReceiptEvent } from '../core/events.ts';
import type { Member } from '../core/schemas.ts';

export interface Reader {
  userId: string;
  name: string;
  lastReadSeq: number;
}

/**
 * Who has read how far in one room: seeded from the members list (`member.lastReadSeq`),
 * moved by `read` events (receipts), never back. `seenBy(seq)` answers "seen by <names>"
 * for a message: the other members whose marker has reached it.
 */
export class ReadReceipts {
  private readonly readers = new Map<string, Reader>();

  constructor(
    readonly roomId: string,
    private readonly meId: string,
  ) {}

  /** The members list (again): names, and markers that only move forward; former members go. */
  setMembers(members: Member[]): void {
    const ids = new Set(members.map((m) => m.userId));
    for (const id of this.readers.keys()) if (!ids.has(id)) this.readers.delete(id);
    for (const m of members) {
      const r = this.readers.get(m.userId);
      this.readers.set(m.userId, {
        userId: m.userId,
        name: m.username,
        lastReadSeq: Math.max(r?.lastReadSeq ?? 0, m.lastReadSeq),
      });
    }
  }

  /** A receipt; true when it changed something. Unknown users are kept (a member just added). */
  apply(e: ReadReceiptEvent): boolean {
    if (e.roomId !== this.roomId) return false;
    const r = this.readers.get(e.userId);
    if (r && r.lastReadSeq >= e.lastReadSeq) return false;
    this.readers.set(e.userId, { userId: e.userId, name: r?.name ?? '', lastReadSeq: e.lastReadSeq });
    return true;
  }

  /** The other members (named ones) who have read `seq`, by name. */
  seenBy(seq: number): Reader[] {
    return [...this.readers.values()]
      .filter((r) => r.userId !== this.meId && r.name !== '' && r.lastReadSeq >= seq)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** True when a receipt names a user the members list did not have (reload it). */
  hasUnnamed(): boolean {
    for (const r of this.readers.values()) if (r.name === '') return true;
    return false;
  }
}
