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

  async list(uid: string): Promise<WatchSpec[]> {
    const all = await this.redis.hgetall(keys.listenerWanted(uid));
    return Object.entries(all)
      .filter(([, n]) => Number(n) > 0)
      .map(([f]) => parseSpecField(f))
      .filter((s): s is WatchSpec => s !== undefined);
  }

  async notify(uid: string): Promise<void> {
    await this.redis.publish(keys.listenerControl(), uid);
  }
}
