import type { Logger } from '../shared/logger.js';
import type { RedisClient } from '../shared/redis.js';

export interface PresenceTimings {
  /** Period of the refresh (connection expiry + registry heartbeat). */
  heartbeatMs: number;
  /** A connection not refreshed for this long counts as gone (a crashed node's sockets expire). */
  connectionTtlMs: number;
  /** After the last connection anywhere closes, wait this long before marking the user offline. */
  graceMs: number;
}

export interface PresenceSinks {
  /** First local connection of a user, and every heartbeat (keeps listeners_registry fresh). */
  heartbeat(uid: string): Promise<void>;
  /** No live connection anywhere after the grace period. */
  offline(uid: string): Promise<void>;
}

/**
 * Presence from sockets, across nodes: a Redis ZSET per uid (member = connection id, score =
 * expiry in ms) that every node refreshes for its own connections each heartbeat. Online while a
 * member with a future score exists; when a node's last local connection of a user closes it
 * waits `graceMs` and then, if no live member remains anywhere, marks the user offline.
 */
export class SocketPresence {
  private readonly local = new Map<string, Set<string>>();
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  private readonly timer: NodeJS.Timeout;
  private ticking = false;
  private closed = false;

  constructor(
    private readonly o: {
      redis: RedisClient;
      key: (uid: string) => string;
      sinks: PresenceSinks;
      timings: PresenceTimings;
      logger: Logger;
      now?: () => number;
      /** Outcome of each grace-period check (for metrics). */
      onSettled?: (result: 'offline' | 'still_online' | 'error') => void;
    },
  ) {
    this.timer = setInterval(() => void this.tick(), o.timings.heartbeatMs);
    this.timer.unref();
  }

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  async connected(uid: string, connId: string): Promise<void> {
    if (this.closed) return;
    const grace = this.graceTimers.get(uid);
    if (grace) {
      clearTimeout(grace);
      this.graceTimers.delete(uid);
    }
    let set = this.local.get(uid);
    const first = !set;
    if (!set) {
      set = new Set();
      this.local.set(uid, set);
    }
    set.add(connId);
    const key = this.o.key(uid);
    await this.o.redis
      .multi()
      .zadd(key, this.now() + this.o.timings.connectionTtlMs, connId)
      .pexpire(key, this.o.timings.connectionTtlMs * 2)
      .exec();
    if (first) await this.beat(uid);
  }

  async disconnected(uid: string, connId: string): Promise<void> {
    const set = this.local.get(uid);
    set?.delete(connId);
    await this.o.redis.zrem(this.o.key(uid), connId);
    if (set && set.size === 0) {
      this.local.delete(uid);
      if (this.closed) return;
      const t = setTimeout(() => {
        this.graceTimers.delete(uid);
        void this.settle(uid);
      }, this.o.timings.graceMs);
      t.unref();
      this.graceTimers.set(uid, t);
    }
  }

  /** Live connections of the user on every node (expired members excluded). */
  async liveCount(uid: string): Promise<number> {
    return this.o.redis.zcount(this.o.key(uid), `(${this.now()}`, '+inf');
  }

  localUids(): string[] {
    return [...this.local.keys()];
  }

  private async settle(uid: string): Promise<void> {
    if (this.closed || this.local.has(uid)) return;
    try {
      const key = this.o.key(uid);
      await this.o.redis.zremrangebyscore(key, '-inf', this.now());
      if ((await this.liveCount(uid)) > 0 || this.local.has(uid)) {
        this.o.onSettled?.('still_online');
        return;
      }
      await this.o.sinks.offline(uid);
      this.o.onSettled?.('offline');
      this.o.logger.debug({ uid }, 'realtime presence: user offline (no live connection after grace)');
    } catch (err) {
      this.o.onSettled?.('error');
      this.o.logger.warn({ uid, err: (err as Error).message }, 'realtime presence: offline check failed');
    }
  }

  private async beat(uid: string): Promise<void> {
    try {
      await this.o.sinks.heartbeat(uid);
    } catch (err) {
      this.o.logger.warn({ uid, err: (err as Error).message }, 'realtime presence: heartbeat failed');
    }
  }

  /** Refreshes every local connection's expiry and the registry heartbeat of every local user. */
  async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      const uids = [...this.local.keys()];
      const expiry = this.now() + this.o.timings.connectionTtlMs;
      for (let i = 0; i < uids.length; i += 200) {
        const pipe = this.o.redis.pipeline();
        for (const uid of uids.slice(i, i + 200)) {
          const conns = this.local.get(uid);
          if (!conns || conns.size === 0) continue;
          const key = this.o.key(uid);
          pipe.zadd(key, ...[...conns].flatMap((c) => [expiry, c] as [number, string]));
          pipe.pexpire(key, this.o.timings.connectionTtlMs * 2);
        }
        await pipe.exec();
      }
      // Registry heartbeats, a few at a time so that a large node does not flood Firestore.
      const queue = [...uids];
      await Promise.all(
        Array.from({ length: Math.min(8, queue.length) }, async () => {
          for (let uid = queue.shift(); uid !== undefined; uid = queue.shift()) if (this.local.has(uid)) await this.beat(uid);
        }),
      );
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, 'realtime presence: refresh failed');
    } finally {
      this.ticking = false;
    }
  }

  /** Stops timers. Connections are removed by their own disconnects (during the intake phase). */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const t of this.graceTimers.values()) clearTimeout(t);
    this.graceTimers.clear();
  }
}
