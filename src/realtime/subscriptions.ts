import type { EventEnvelope } from '../shared/events.js';
import type { Logger } from '../shared/logger.js';
import type { RedisClient } from '../shared/redis.js';
import type { EventSink } from './sink.js';

export interface UserChannelsOptions {
  /** A connection used only for SUBSCRIBE (subscriber mode). */
  sub: RedisClient;
  channel: (uid: string) => string;
  /** The user's internal deltas channel (CONTRACT §13.5), subscribed together with `channel`. */
  deltaChannel?: (uid: string) => string;
  logger: Logger;
  onInvalid?: () => void;
  onSubscribedCount?: (n: number) => void;
}

/**
 * The per-node subscriber registry shared by socket.io and /ws: one plain SUBSCRIBE per uid (of the
 * user channel and, when configured, the internal deltas channel) that has at least one local
 * connection (refcounted by sinks), UNSUBSCRIBE when the last leaves.
 * (Un)subscribes of one uid are serialised, and each step re-reads the wanted state, so a
 * connect/disconnect race always converges to "subscribed iff a local sink exists".
 */
export class UserChannels {
  private readonly sinks = new Map<string, Set<EventSink>>();
  private readonly subscribed = new Set<string>();
  private readonly byChannel = new Map<string, string>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly onMessage = (channel: string, message: string) => this.dispatch(channel, message);

  constructor(private readonly o: UserChannelsOptions) {
    o.sub.on('message', this.onMessage);
  }

  /** Registers a sink; resolves once this node is subscribed to the uid's channel. */
  add(uid: string, sink: EventSink): Promise<void> {
    let set = this.sinks.get(uid);
    if (!set) {
      set = new Set();
      this.sinks.set(uid, set);
    }
    set.add(sink);
    return this.sync(uid);
  }

  remove(uid: string, sink: EventSink): Promise<void> {
    const set = this.sinks.get(uid);
    if (!set) return Promise.resolve();
    set.delete(sink);
    if (set.size === 0) this.sinks.delete(uid);
    return this.sync(uid);
  }

  localUids(): string[] {
    return [...this.sinks.keys()];
  }

  subscribedCount(): number {
    return this.subscribed.size;
  }

  close(): void {
    this.o.sub.off('message', this.onMessage);
    this.sinks.clear();
  }

  private sync(uid: string): Promise<void> {
    const prev = this.chains.get(uid) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => this.converge(uid));
    this.chains.set(uid, next);
    // Cleanup on either outcome; the caller of add/remove handles `next`'s own rejection, and this
    // derived promise must not become an unhandled one (a subscribe failing while the node shuts
    // down, "Connection is closed", surfaced that way).
    const forget = () => {
      if (this.chains.get(uid) === next) this.chains.delete(uid);
    };
    next.then(forget, forget);
    return next;
  }

  private async converge(uid: string): Promise<void> {
    const want = this.sinks.has(uid);
    const channel = this.o.channel(uid);
    const all = this.o.deltaChannel ? [channel, this.o.deltaChannel(uid)] : [channel];
    try {
      if (want && !this.subscribed.has(uid)) {
        for (const c of all) this.byChannel.set(c, uid);
        await this.o.sub.subscribe(...all);
        this.subscribed.add(uid);
      } else if (!want && this.subscribed.has(uid)) {
        this.subscribed.delete(uid);
        await this.o.sub.unsubscribe(...all);
        if (!this.sinks.has(uid)) for (const c of all) this.byChannel.delete(c);
      }
    } catch (err) {
      this.o.logger.warn({ uid, channel, err: (err as Error).message }, 'realtime: (un)subscribe failed');
      if (want) throw err;
    } finally {
      this.o.onSubscribedCount?.(this.subscribed.size);
    }
  }

  private dispatch(channel: string, message: string): void {
    const uid = this.byChannel.get(channel);
    if (uid === undefined) return;
    const set = this.sinks.get(uid);
    if (!set || set.size === 0) return;
    let env: EventEnvelope;
    try {
      env = JSON.parse(message) as EventEnvelope;
      if (typeof env !== 'object' || env === null || typeof env.event_id !== 'string' || typeof env.type !== 'string') throw new Error('not an envelope');
      // The channel says whose stream this is; an envelope for someone else is never forwarded.
      if (env.uid !== uid) throw new Error(`envelope uid does not match channel ${channel}`);
    } catch (err) {
      this.o.onInvalid?.();
      this.o.logger.warn({ channel, err: (err as Error).message }, 'realtime: ignoring a message that is not an event envelope');
      return;
    }
    for (const sink of set) {
      try {
        sink.deliver(env, message);
      } catch (err) {
        this.o.logger.warn({ uid, err: (err as Error).message }, 'realtime: delivery to a connection failed');
      }
    }
  }
}
