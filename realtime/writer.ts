import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Database } from '../core/db/database.ts';
import { AppError, isDatabaseUnavailable } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { commitBatch, type Operation } from '../core/messages/batch.ts';
import type { Change } from '../core/messages/changes.ts';
import {
  toWireMessage,
  toWireMessages,
  type AttachmentUrlSigner,
  type Draft,
} from '../core/messages/messages.ts';
import { persistBatchSeconds, persistBatchSize } from '../core/metrics.ts';
import type { Message } from '../core/schemas.ts';

/** What one send became: the committed (or original, for a retry) message, or why not. */
export type SendOutcome = { ok: true; message: Message; duplicate: boolean } | { ok: false; error: AppError };
/** What one edit, delete or reaction became: the message as it is now, and whether it changed. */
export type ChangeOutcome = { ok: true; message: Message; changed: boolean } | { ok: false; error: AppError };

export interface WriterOptions {
  db: Database;
  logger: Logger;
  sign: AttachmentUrlSigner;
  now: () => number;
  /** Receives each committed batch's new messages in seq order, after their senders' acks. */
  onCommitted: (roomId: string, messages: Message[]) => void;
  /** Receives each committed batch's changed messages in version order, after the new ones. */
  onUpdated?: (roomId: string, messages: Message[]) => void;
  /** Receives the attachments of messages deleted by a committed batch (their objects must go). */
  onDiscarded?: (attachments: { id: string; key: string }[]) => void;
  /** Most sends committed in one transaction. */
  maxBatch?: number;
  /** Rooms committing at the same time (each holds a pooled connection while it does). */
  maxConcurrent?: number;
}

interface Pending {
  op: Operation;
  resolve: (outcome: SendOutcome | ChangeOutcome) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit per room. The first send to an idle room starts its transaction at once (no
 * timer, no added latency at low load); sends that arrive while it runs wait, and all of
 * them go into the room's next transaction together. One transaction per room at a time is
 * also what keeps seq in commit order: a batch is broadcast before the next one commits.
 */
export class MessageWriter {
  private readonly queues = new Map<string, Pending[]>();
  private readonly maxBatch: number;
  private readonly maxConcurrent: number;
  private running = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: WriterOptions) {
    this.maxBatch = opts.maxBatch ?? 256;
    this.maxConcurrent = opts.maxConcurrent ?? 8;
  }

  /** Resolves once the send is committed (or refused); rejects when the database fails. */
  submit(roomId: string, draft: Draft): Promise<SendOutcome> {
    return this.enqueue(roomId, { kind: 'send', ...draft }) as Promise<SendOutcome>;
  }

  /**
   * An edit, delete or reaction, committed in the room's next group commit with the sends
   * around it (so it takes its version in commit order); resolves once committed or refused.
   */
  submitChange(roomId: string, change: Change): Promise<ChangeOutcome> {
    return this.enqueue(roomId, change) as Promise<ChangeOutcome>;
  }

  private enqueue(roomId: string, op: Operation): Promise<SendOutcome | ChangeOutcome> {
    return new Promise((resolve, reject) => {
      const pending = { op, resolve, reject };
      const queue = this.queues.get(roomId);
      if (queue) {
        queue.push(pending);
        return;
      }
      this.queues.set(roomId, [pending]);
      void this.drainRoom(roomId);
    });
  }

  /** Resolves when every accepted send has been committed or refused. */
  async idle(): Promise<void> {
    if (this.queues.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private async drainRoom(roomId: string): Promise<void> {
    const queue = this.queues.get(roomId)!;
    while (queue.length > 0) {
      const batch = queue.splice(0, this.maxBatch);
      await this.acquire();
      try {
        await this.commit(roomId, batch);
      } finally {
        this.release();
      }
    }
    this.queues.delete(roomId);
    if (this.queues.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async commit(roomId: string, batch: Pending[]): Promise<void> {
    const started = performance.now();
    let committed;
    try {
      committed = await commitBatch(
        this.opts.db,
        roomId,
        batch.map((p) => p.op),
        this.opts.now,
      );
    } catch (err) {
      if (batch.length > 1 && !isDatabaseUnavailable(err)) {
        // One bad send must not fail its neighbours: retry them one by one to isolate it.
        this.opts.logger.warn(
          { err, roomId, size: batch.length },
          'batch commit failed; retrying sends singly',
        );
        for (const p of batch) await this.commit(roomId, [p]);
        return;
      }
      for (const p of batch) p.reject(err);
      return;
    }
    persistBatchSeconds.observe((performance.now() - started) / 1000);
    const { results } = committed;
    persistBatchSize.observe(
      results.filter((r) => r.ok && ('duplicate' in r ? !r.duplicate : r.changed)).length,
    );

    const fresh: Message[] = [];
    await Promise.all(
      results.map(async (r, i) => {
        const p = batch[i]!;
        if (!r.ok) return p.resolve(r);
        try {
          const message = await toWireMessage(r.message, this.opts.sign);
          if (!('duplicate' in r)) return p.resolve({ ok: true, message, changed: r.changed });
          if (!r.duplicate) fresh[i] = message;
          p.resolve({ ok: true, message, duplicate: r.duplicate });
        } catch (err) {
          // Stored, but its attachment URL cannot be signed: the sender hears `internal` and a
          // retry with the same clientMsgId returns it; others see the seq gap and fetch history.
          this.opts.logger.error({ err, roomId }, 'could not sign an attachment URL for a committed message');
          p.resolve({ ok: false, error: new AppError('internal', 'Internal error') });
        }
      }),
    );
    // Let the senders' acks go out first (persist → ack → broadcast), then broadcast the batch
    // before the room's next transaction starts, which keeps broadcasts in seq order.
    await nextTurn();
    const ordered = fresh.filter((m) => m !== undefined);
    if (ordered.length > 0) {
      try {
        this.opts.onCommitted(roomId, ordered);
      } catch (err) {
        this.opts.logger.error({ err, roomId }, 'broadcast of committed messages failed');
      }
    }
    await this.afterChanges(roomId, committed.updated, committed.discarded);
  }

  /** Broadcasts the batch's changed messages (new ones went first: versions stay in order). */
  private async afterChanges(
    roomId: string,
    updated: Awaited<ReturnType<typeof commitBatch>>['updated'],
    discarded: { id: string; key: string }[],
  ): Promise<void> {
    if (discarded.length > 0) {
      try {
        this.opts.onDiscarded?.(discarded);
      } catch (err) {
        this.opts.logger.error({ err, roomId }, 'removing deleted attachments failed');
      }
    }
    if (updated.length === 0 || !this.opts.onUpdated) return;
    try {
      this.opts.onUpdated(roomId, await toWireMessages(updated, this.opts.sign));
    } catch (err) {
      // Committed: clients that missed the update catch up by version.
      this.opts.logger.error({ err, roomId }, 'broadcast of updated messages failed');
    }
  }

  private async acquire(): Promise<void> {
    if (this.running < this.maxConcurrent) {
      this.running += 1;
      return;
    }
    await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
  }

  private release(): void {
    const next = this.slotWaiters.shift();
    // The slot passes straight to the next waiter; the count stays as it is.
    if (next) next();
    else this.running -= 1;
  }
}
