import { keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import type { RedisClient } from '../shared/redis.js';

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

interface Held {
  /** `{instanceId}|{fencing token}`, the lease key's value. */
  value: string;
  token: number;
  /** Local deadline (ms) after which we stop trusting the lease without renewing it. */
  validUntil: number;
}

export interface LeaseOptions {
  redis: RedisClient;
  instanceId: string;
  ttlMs: number;
  logger: Logger;
  /** Called once when a held lease turns out to be lost (taken, expired or unrenewable). */
  onLost(uid: string): void;
  onAcquired?(uid: string): void;
}

/**
 * Per-user Redis leases (CONTRACT §7): `SET lease NX PX ttl` with value `{instance}|{token}`, the
 * token from `INCR` of the global fence counter; renewed by compare-and-pexpire, released by
 * compare-and-delete (Lua, one key each, so it works on a cluster too). Before each publish the
 * holder checks both its local deadline and that the key still holds its own value+token, so a
 * deposed owner (paused, partitioned) publishes nothing once another instance took over.
 */
export class LeaseManager {
  private readonly held = new Map<string, Held>();

  constructor(private readonly o: LeaseOptions) {}

  owns(uid: string): boolean {
    const h = this.held.get(uid);
    return h !== undefined && Date.now() < h.validUntil;
  }

  get size(): number {
    return this.held.size;
  }

  ownedUsers(): string[] {
    return [...this.held.keys()];
  }

  token(uid: string): number | undefined {
    return this.held.get(uid)?.token;
  }

  /** Tries to take the leases of `uids` that nobody holds; returns those acquired. */
  async tryAcquire(uids: string[]): Promise<string[]> {
    const r = this.o.redis;
    const free = await Promise.all(uids.map(async (uid) => ((await r.exists(keys.lease(uid))) === 0 ? uid : undefined)));
    const got = await Promise.all(
      free.map(async (uid) => {
        if (uid === undefined || this.held.has(uid)) return undefined;
        const started = Date.now();
        const token = await r.incr(keys.leaseFence());
        const value = `${this.o.instanceId}|${token}`;
        const ok = await r.set(keys.lease(uid), value, 'PX', this.o.ttlMs, 'NX');
        if (ok !== 'OK') return undefined;
        this.held.set(uid, { value, token, validUntil: started + this.o.ttlMs });
        this.o.onAcquired?.(uid);
        return uid;
      }),
    );
    return got.filter((x): x is string => x !== undefined);
  }

  /** Renews every held lease; lost ones are dropped and reported through onLost. */
  async renewAll(): Promise<void> {
    await Promise.all(
      [...this.held.entries()].map(async ([uid, h]) => {
        const started = Date.now();
        try {
          const res = await this.o.redis.eval(RENEW, 1, keys.lease(uid), h.value, String(this.o.ttlMs));
          if (Number(res) === 1) {
            if (this.held.get(uid) === h) h.validUntil = started + this.o.ttlMs;
            return;
          }
          this.lose(uid, h, 'taken or expired');
        } catch (err) {
          // Redis unreachable: keep the users only while the lease is certainly still ours.
          if (Date.now() >= h.validUntil) this.lose(uid, h, (err as Error).message);
        }
      }),
    );
  }

  private lose(uid: string, h: Held, why: string) {
    if (this.held.get(uid) !== h) return;
    this.held.delete(uid);
    this.o.logger.warn({ uid, why }, 'listener lease lost');
    this.o.onLost(uid);
  }

  /** True when this instance may publish for `uid` right now (local deadline + fencing check). */
  async canPublish(uid: string): Promise<boolean> {
    const h = this.held.get(uid);
    if (!h || Date.now() >= h.validUntil) return false;
    const current = await this.o.redis.get(keys.lease(uid));
    if (current === h.value) return true;
    this.lose(uid, h, 'fencing check failed');
    return false;
  }

  async release(uid: string): Promise<void> {
    const h = this.held.get(uid);
    if (!h) return;
    this.held.delete(uid);
    await this.o.redis.eval(RELEASE, 1, keys.lease(uid), h.value);
  }

  async releaseAll(): Promise<void> {
    await Promise.all(this.ownedUsers().map((uid) => this.release(uid).catch((err: Error) => this.o.logger.warn({ uid, err: err.message }, 'lease release failed'))));
  }
}
