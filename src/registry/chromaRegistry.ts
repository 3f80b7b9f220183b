import { isoSecondsZ } from '../listeners/normalize.js';
import { keys } from '../shared/keys.js';
import type { RedisClient } from '../shared/redis.js';
import { field } from './hashDoc.js';
import { USER_TTL_SECONDS } from './types.js';

/** TTL of `registry:chroma:{uid}:{collection}`, renewed by each heartbeat (as the original). */
export const CHROMA_REGISTRATION_TTL_SECONDS = 90;

const COLLECTIONS = field('services', 'chroma', 'collections');
const LAST_HEARTBEAT = field('services', 'chroma', 'last_heartbeat');

/** Renews last_heartbeat + TTL only when the registration exists. KEYS[1]; ARGV[1] time; ARGV[2] ttl. */
const HEARTBEAT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'last_heartbeat', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * Adds (ARGV[3]="add") or removes a collection in the unified user document's
 * services.chroma.collections, atomically on the one user key (merged, never replaced; CONTRACT
 * §13.7). ARGV[1] collections field, ARGV[2] collection, ARGV[4] last_heartbeat field, ARGV[5] its
 * JSON value or "", ARGV[6] user TTL. Returns 0 when the user is not registered.
 */
const MIRROR = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local list = {}
if cur then
  local ok, v = pcall(cjson.decode, cur)
  if ok and type(v) == 'table' then list = v end
end
local out, seen = {}, {}
for _, c in ipairs(list) do
  if type(c) == 'string' and not seen[c] and not (ARGV[3] ~= 'add' and c == ARGV[2]) then
    seen[c] = true
    out[#out + 1] = c
  end
end
if ARGV[3] == 'add' and not seen[ARGV[2]] then out[#out + 1] = ARGV[2] end
local encoded = '[]'
if #out > 0 then encoded = cjson.encode(out) end
redis.call('HSET', KEYS[1], ARGV[1], encoded)
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], ARGV[4], ARGV[5]) end
redis.call('EXPIRE', KEYS[1], ARGV[6])
return 1
`;

export interface ChromaRegistration {
  user_id: string;
  collection_name: string;
  session_id: string;
  registered_at: string;
  last_heartbeat: string;
}

/**
 * The original's CHROMA_VECTOR registry side (ORIGINAL §2.5, §3.1, §3.3): which user has which
 * vector collection open. Hash `registry:chroma:{uid}:{collection}` with `user_id, collection_name,
 * session_id, registered_at, last_heartbeat` (`%Y-%m-%dT%H:%M:%SZ`), TTL 90 s; plus the mirror into
 * the unified user document's `services.chroma` when the user is in unified mode.
 */
export class ChromaRegistry {
  constructor(
    private readonly redis: RedisClient,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async register(userId: string, collection: string, sessionId: string): Promise<ChromaRegistration> {
    const at = isoSecondsZ(this.now());
    const payload: ChromaRegistration = { user_id: userId, collection_name: collection, session_id: sessionId, registered_at: at, last_heartbeat: at };
    const k = keys.chromaCollection(userId, collection);
    await this.redis.multi().hset(k, { ...payload }).expire(k, CHROMA_REGISTRATION_TTL_SECONDS).exec();
    return payload;
  }

  /** Renews the registration; false when it does not exist (expired or never registered). */
  async heartbeat(userId: string, collection: string): Promise<{ updated: boolean; at: string }> {
    const at = isoSecondsZ(this.now());
    const r = await this.redis.eval(HEARTBEAT, 1, keys.chromaCollection(userId, collection), at, CHROMA_REGISTRATION_TTL_SECONDS);
    return { updated: Number(r) === 1, at };
  }

  async unregister(userId: string, collection: string): Promise<boolean> {
    return (await this.redis.del(keys.chromaCollection(userId, collection))) > 0;
  }

  /** Merges (or removes) the collection in the unified document; false when the user is not registered there. */
  async mirror(userId: string, collection: string, op: 'add' | 'remove', lastHeartbeat?: string): Promise<boolean> {
    const r = await this.redis.eval(MIRROR, 1, keys.user(userId), COLLECTIONS, collection, op, LAST_HEARTBEAT, lastHeartbeat === undefined ? '' : JSON.stringify(lastHeartbeat), USER_TTL_SECONDS);
    return Number(r) === 1;
  }
}
