import { keys } from '../shared/keys.js';
import type { Fence } from '../shared/events.js';
import type { Logger } from '../shared/logger.js';
import type { RedisClient } from '../shared/redis.js';

/** KEYS: lease, notification state (same hash slot); the state lives as long as the lease is renewed, plus its TTL. */
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('expire', KEYS[2], ARGV[3])
  return redis.call('pexpire', KEYS[1], ARGV[2])
else return 0 end`;
/** KEYS: lease, notification state (same hash slot). ARGV[2] = '1' also forgets the state (user went offline). */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then
  if ARGV[2] == '1' then redis.call('del', KEYS[2]) end
  return redis.call('del', KEYS[1])
else return 0 end`;
/**
 * Live-instance heartbeat on one sorted set (cluster-safe: one key): add/refresh this instance
 * with score = Redis time + ttl, drop expired members, return how many are live.
 */
const HEARTBEAT = `local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('zadd', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('zremrangebyscore', KEYS[1], '-inf', now)
redis.call('pexpire', KEYS[1], tonumber(ARGV[2]) * 4)
return redis.call('zcard', KEYS[1])`;

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
  /** Live-instance set this instance counts itself in (one per deployment). */
  instanceGroup: string;
  /**
   * TTL of a user's notification state (seconds), refreshed with every renewal: long enough for a
   * takeover after the owner stopped renewing, short enough that a user who went away without a
   * release (owner died, user offline) starts from a plain sync when they come back much later.
   */
  stateTtlSeconds: number;
}

/**
 * Per-user Redis leases (CONTRACT §7): `SET lease NX PX ttl` with value `{instance}|{token}`, the
 * token from `INCR` of the global fence counter; renewed by compare-and-pexpire, released by
 * compare-and-delete (Lua on the user's hash-tagged keys, so it works on a cluster too). The holder
 * checks its local deadline before each publish; the publish script itself checks that the key still
 * holds the holder's value+token, so a deposed owner (paused, partitioned) publishes nothing once
 * another instance took over (see `fence()` and src/shared/events.ts).
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

  /**
   * Tries to take the leases of `uids` that nobody holds, at most `max` of them (the free ones are
   * found first, so users held elsewhere do not use up the room); returns those acquired.
   */
  async tryAcquire(uids: string[], max = Infinity): Promise<string[]> {
    const r = this.o.redis;
    const exists = await Promise.all(uids.map(async (uid) => ((await r.exists(keys.lease(uid))) === 0 ? uid : undefined)));
    const free = exists.filter((uid): uid is string => uid !== undefined && !this.held.has(uid)).slice(0, Math.max(0, max));
    const got = await Promise.all(
      free.map(async (uid) => {
        if (this.held.has(uid)) return undefined;
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

  /** The fencing value a per-user publisher is bound to, while the lease is held. */
  fence(uid: string): Fence | undefined {
    const h = this.held.get(uid);
    return h ? { uid, value: h.value, stateTtlSeconds: this.o.stateTtlSeconds } : undefined;
  }

  /** Refreshes this instance in the live-instance set; returns how many instances are live. */
  async heartbeat(): Promise<number> {
    const n = await this.o.redis.eval(HEARTBEAT, 1, keys.listenerInstances(this.o.instanceGroup), this.o.instanceId, String(this.o.ttlMs));
    return Math.max(1, Number(n));
  }

  /** Leaves the live-instance set (clean shutdown). */
  async leave(): Promise<void> {
    await this.o.redis.zrem(keys.listenerInstances(this.o.instanceGroup), this.o.instanceId);
  }

  /** Renews every held lease; lost ones are dropped and reported through onLost. */
  async renewAll(): Promise<void> {
    await Promise.all(
      [...this.held.entries()].map(async ([uid, h]) => {
        const started = Date.now();
        try {
          const res = await this.o.redis.eval(RENEW, 2, keys.lease(uid), keys.notifState(uid), h.value, String(this.o.ttlMs), String(this.o.stateTtlSeconds));
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

  /** Redis refused a publish for `uid` (the fence moved): the lease is gone. */
  fenced(uid: string): void {
    const h = this.held.get(uid);
    if (h) this.lose(uid, h, 'fencing check failed');
  }

  private lose(uid: string, h: Held, why: string) {
    if (this.held.get(uid) !== h) return;
    this.held.delete(uid);
    this.o.logger.warn({ uid, why }, 'listener lease lost');
    this.o.onLost(uid);
  }

  /**
   * Local part of the fencing check, no round trip: the lease's local deadline has not passed. The
   * publish script checks the lease value at the write itself.
   */
  canPublish(uid: string): boolean {
    return this.owns(uid);
  }

  /**
   * Compare-and-delete of the lease. `forgetState`: also drop the user's notification state (the
   * user went offline; a later attach starts from a plain sync). A handover keeps it.
   */
  async release(uid: string, o: { forgetState?: boolean } = {}): Promise<void> {
    const h = this.held.get(uid);
    if (!h) return;
    this.held.delete(uid);
    await this.o.redis.eval(RELEASE, 2, keys.lease(uid), keys.notifState(uid), h.value, o.forgetState ? '1' : '0');
  }

  /**
   * The notifications the previous owner last published for `uid` (doc_id -> item hash), or
   * undefined when there is none (first attach, user was offline, state expired).
   */
  async previousState(uid: string): Promise<Map<string, string> | undefined> {
    // ioredis defines special names such as __proto__ as own properties (no prototype writes).
    const stored = await this.o.redis.hgetall(keys.notifState(uid));
    const m = new Map<string, string>();
    let recorded = false;
    for (const [id, hash] of Object.entries(stored)) {
      if (id === '') recorded = true; // the marker the publish script writes with every sync
      else m.set(id, hash);
    }
    return recorded ? m : undefined;
  }

  async releaseAll(): Promise<void> {
    await Promise.all(this.ownedUsers().map((uid) => this.release(uid).catch((err: Error) => this.o.logger.warn({ uid, err: err.message }, 'lease release failed'))));
  }
}
