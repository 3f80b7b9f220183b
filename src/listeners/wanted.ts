import { keys } from '../shared/keys.js';
import type { RedisClient } from '../shared/redis.js';
import { parseSpecField, specField, type WatchSpec } from './ids.js';

/** Requests survive a day without activity; registrations and heartbeats refresh it. */
const WANTED_TTL_SECONDS = 24 * 3600;

/**
 * On-demand watcher requests (chat threads, workflow jobs) per user, in Redis so that any instance
 * can take them and the lease owner runs them: hash `listeners:wanted:{uid}`, field = JSON spec,
 * value = how many registrations ask for it (the reference count). Every change is announced on
 * the control channel; the owner reconciles (and also does so on attach and periodically).
 * Requests held by open connections (`hold`) live in a sorted set with an expiry instead, renewed
 * while the connection is open: a node that dies without releasing them cannot leak a watcher.
 */
export class WantedStore {
  constructor(private readonly redis: RedisClient) {}

  /** Adds one reference; returns the new count. */
  async add(uid: string, spec: WatchSpec): Promise<number> {
    const key = keys.listenerWanted(uid);
    const n = await this.redis.hincrby(key, specField(spec), 1);
    await this.redis.expire(key, WANTED_TTL_SECONDS);
    await this.notify(uid);
    return n;
  }

  /** Drops one reference (or all with `all`); returns what remains (0 = watcher stops). */
  async remove(uid: string, spec: WatchSpec, all = false): Promise<number> {
    const key = keys.listenerWanted(uid);
    const field = specField(spec);
    let left = 0;
    if (!all) left = await this.redis.hincrby(key, field, -1);
    if (left <= 0) {
      await this.redis.hdel(key, field);
      left = 0;
    }
    await this.notify(uid);
    return left;
  }

  async refs(uid: string, spec: WatchSpec): Promise<number> {
    return Number((await this.redis.hget(keys.listenerWanted(uid), specField(spec))) ?? 0);
  }

  async touch(uid: string): Promise<void> {
    await this.redis.expire(keys.listenerWanted(uid), WANTED_TTL_SECONDS);
  }

  /**
   * A request held by one connection until `release` or until `ttlMs` passes without another
   * `hold` (call it again to renew). Announced to the lease owner when it is new.
   */
  async hold(uid: string, holder: string, spec: WatchSpec, ttlMs: number, now = Date.now()): Promise<void> {
    const key = keys.listenerWantedHeld(uid);
    const added = await this.redis.zadd(key, now + ttlMs, JSON.stringify([holder, specField(spec)]));
    await this.redis.pexpire(key, ttlMs * 2);
    if (Number(added) > 0) await this.notify(uid);
  }

  async release(uid: string, holder: string, spec: WatchSpec): Promise<void> {
    await this.redis.zrem(keys.listenerWantedHeld(uid), JSON.stringify([holder, specField(spec)]));
    await this.notify(uid);
  }

  async list(uid: string, now = Date.now()): Promise<WatchSpec[]> {
    const heldKey = keys.listenerWantedHeld(uid);
    const [all, held] = await Promise.all([this.redis.hgetall(keys.listenerWanted(uid)), this.redis.zrangebyscore(heldKey, now, '+inf')]);
    const fields = new Set(Object.entries(all).filter(([, n]) => Number(n) > 0).map(([f]) => f));
    for (const m of held) {
      try {
        const v = JSON.parse(m) as unknown;
        if (Array.isArray(v) && typeof v[1] === 'string') fields.add(v[1]);
      } catch {
        /* not ours: skipped */
      }
    }
    // Lapsed holds (a connection on a node that died) are dropped here.
    void this.redis.zremrangebyscore(heldKey, '-inf', `(${now}`).catch(() => undefined);
    return [...fields].map((f) => parseSpecField(f)).filter((s): s is WatchSpec => s !== undefined);
  }

  async notify(uid: string): Promise<void> {
    await this.redis.publish(keys.listenerControl(), uid);
  }
}
