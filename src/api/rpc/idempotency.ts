import { createHash, randomUUID } from 'node:crypto';
import type { RedisClient } from '../../shared/redis.js';
import { keys } from '../../shared/keys.js';
import { AppError, RETRYABLE_CODES, type ErrorCode } from '../../shared/errors.js';

/**
 * Idempotency per CONTRACT §3, storing the whole response (the original stored only a marker).
 *
 * Record at `idemp:{method}:{key}` (TTL RPC_IDEMP_TTL), JSON:
 *   {"s":"p","o":owner,"f":fingerprint}            while the first call runs
 *   {"s":"d","f":fingerprint,"b":"<response body>"} once it answered
 * A duplicate waits for the first (bounded by its own timeout_ms) and replays `b` byte for byte.
 * INTERNAL / TIMEOUT / UNAVAILABLE answers release the claim so a retry runs again. The same key
 * with different arguments is a CONFLICT, never someone else's answer.
 */
interface Pending {
  s: 'p';
  o: string;
  f: string;
}
interface Done {
  s: 'd';
  f: string;
  b: string;
}
type IdempRecord = Pending | Done;

/** Compare-and-delete: only the claim's owner releases it. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
/** Compare-and-set: only the claim's owner stores the answer. */
const COMPLETE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 else return 0 end`;

export type IdempotentOutcome =
  | { kind: 'run'; complete(body: string, code: ErrorCode | undefined): Promise<void> }
  | { kind: 'replay'; body: string };

export class Idempotency {
  constructor(
    private readonly redis: RedisClient,
    private readonly ttlSeconds: number,
  ) {
    this.redis.defineCommand('idempRelease', { numberOfKeys: 1, lua: RELEASE });
    this.redis.defineCommand('idempComplete', { numberOfKeys: 1, lua: COMPLETE });
  }

  static fingerprint(parts: unknown): string {
    return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 22);
  }

  /**
   * Claims the key or waits for the first caller's answer. `deadline` is the caller's own
   * timeout: past it, a duplicate still waiting gets TIMEOUT (and may retry).
   */
  async begin(method: string, key: string, fingerprint: string, deadline: number): Promise<IdempotentOutcome> {
    const k = keys.idempotency(method, key);
    // The claim lives only as long as the call may run (+ margin): a process that dies mid-call
    // cannot block retries of that key for the whole RPC_IDEMP_TTL.
    const claimTtl = Math.min(this.ttlSeconds, Math.ceil((deadline - Date.now()) / 1000) + 5);
    let delay = 10;
    for (;;) {
      const owner = randomUUID();
      const claim = JSON.stringify({ s: 'p', o: owner, f: fingerprint } satisfies Pending);
      const ok = await this.redis.set(k, claim, 'EX', Math.max(1, claimTtl), 'NX');
      if (ok === 'OK') {
        return {
          kind: 'run',
          complete: async (body, code) => {
            const scripts = this.redis as unknown as IdempScripts;
            if (code !== undefined && RETRYABLE_CODES.has(code)) {
              await scripts.idempRelease(k, claim);
            } else {
              await scripts.idempComplete(k, claim, JSON.stringify({ s: 'd', f: fingerprint, b: body } satisfies Done), this.ttlSeconds);
            }
          },
        };
      }
      const raw = await this.redis.get(k);
      if (raw !== null) {
        const rec = JSON.parse(raw) as IdempRecord;
        if (rec.f !== fingerprint) {
          throw new AppError('CONFLICT', 'idempotency_key was already used for this method with different arguments');
        }
        if (rec.s === 'd') return { kind: 'replay', body: rec.b };
      }
      // Pending (or released between our SET and GET): wait, then look again.
      if (Date.now() + delay > deadline) {
        throw new AppError('TIMEOUT', 'a call with the same idempotency_key is still running');
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 100);
    }
  }
}

interface IdempScripts {
  idempRelease(key: string, claim: string): Promise<number>;
  idempComplete(key: string, claim: string, record: string, ttl: number): Promise<number>;
}
