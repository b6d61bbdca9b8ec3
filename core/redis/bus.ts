import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import type { Room } from '../schemas.ts';
import { closeRedis } from './connection.ts';

/**
 * Events that one tier publishes and the realtime tier acts on, on every instance: REST
 * functions change sessions and memberships, sockets must follow at once.
 */
export type BusEvent =
  | { type: 'session.revoked'; jti: string; userId: string }
  /** Left or removed: the user's sockets leave the room and hear `room_removed`. */
  | { type: 'member.left'; roomId: string; userId: string }
  /** Created the room, was added, or a direct room was opened for them: `room_added`. */
  | { type: 'member.joined'; room: Room; userId: string }
  /** Renamed, or its owner changed: each of `userIds` (its members) hears `room_updated`. */
  | { type: 'room.updated'; room: Room; userIds: string[] };

export interface EventBus {
  publish(event: BusEvent): Promise<void>;
  /** Returns an unsubscribe function. */
  subscribe(handler: (event: BusEvent) => void): () => void;
  close(): Promise<void>;
}

/** One process: events go straight to the subscribers. */
export class MemoryBus implements EventBus {
  private readonly emitter = new EventEmitter();

  async publish(event: BusEvent): Promise<void> {
    this.emitter.emit('event', event);
  }

  subscribe(handler: (event: BusEvent) => void): () => void {
    this.emitter.on('event', handler);
    return () => this.emitter.off('event', handler);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

/**
 * Redis pub/sub: every instance of every tier that shares the Redis (and key prefix) hears it.
 * The subscriber connection is opened on the first subscribe, so a process that only
 * publishes (a REST function) holds none.
 */
export class RedisBus implements EventBus {
  private readonly emitter = new EventEmitter();
  private readonly channel: string;
  private subscriber: Redis | undefined;
  private subscribed = false;

  constructor(
    private readonly publisher: Redis,
    private readonly openSubscriber: () => Redis,
    keyPrefix: string,
    private readonly logger: Logger,
  ) {
    // Pub/sub channels ignore ioredis' keyPrefix (and the DB index): prefix by hand.
    this.channel = `${keyPrefix}parley:events`;
  }

  private listening(): Redis {
    if (this.subscriber) return this.subscriber;
    const subscriber = this.openSubscriber();
    subscriber.on('message', (channel: string, raw: string) => {
      if (channel !== this.channel) return;
      try {
        this.emitter.emit('event', JSON.parse(raw) as BusEvent);
      } catch (err) {
        this.logger.warn({ err }, 'dropped a malformed bus event');
      }
    });
    this.subscriber = subscriber;
    return subscriber;
  }

  async publish(event: BusEvent): Promise<void> {
    await this.publisher.publish(this.channel, JSON.stringify(event));
  }

  subscribe(handler: (event: BusEvent) => void): () => void {
    if (!this.subscribed) {
      this.subscribed = true;
      // ioredis re-subscribes by itself after a reconnect.
      this.listening()
        .subscribe(this.channel)
        .catch((err: Error) => {
          this.subscribed = false;
          this.logger.error({ err: { message: err.message } }, 'bus subscribe failed');
        });
    }
    this.emitter.on('event', handler);
    return () => this.emitter.off('event', handler);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
    if (this.subscriber) await closeRedis(this.subscriber);
  }
}
