import { z } from 'zod';
import { field } from '../../registry/hashDoc.js';
import { keys } from '../../shared/keys.js';
import { defineTask } from './types.js';

const BATCH = 500;
const MAX_BATCHES = 20;

/** KEYS[1] user hash. ARGV[1] JSON cutoff ISO, ARGV[2] JSON now ISO. Marks offline when the heartbeat is still stale. */
const MARK_OFFLINE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local hb = redis.call('HGET', KEYS[1], '${field('heartbeat', 'last_heartbeat')}')
if hb and hb > ARGV[1] then return 0 end
local st = redis.call('HGET', KEYS[1], '${field('user_info', 'status')}')
if st == '"offline"' then return 2 end
redis.call('HSET', KEYS[1], '${field('user_info', 'status')}', '"offline"', '${field('user_info', 'last_seen_at')}', hb or ARGV[2])
return 1
`;
/** KEYS[1] sorted set. ARGV[1] member, ARGV[2] cutoff ms: removes the member only if its score is still old. */
const ZREM_IF_OLD = `
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(s) <= tonumber(ARGV[2]) then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
`;

/**
 * Scheduled every 300 s: users of the unified registry whose last activity is older than the
 * heartbeat TTL are marked offline and leave the active-user index and their company's set. Reads
 * only the `active_users` index the registry maintains (no keyspace scan); one key per command, so
 * it works on Redis Cluster; each step re-checks the timestamp, so a user who just came back stays.
 */
export default defineTask({
  name: 'registry_cleanup',
  queue: 'maintenance',
  tracked: false,
  options: { attempts: 2, backoffMs: 5000, maxDurationSeconds: 240, priority: 'low' },
  payload: z.looseObject({}),
  async process(_input, ctx) {
    const { redis, config } = ctx.deps.service;
    const now = Date.now();
    const cutoffMs = now - config.listenersTtlSeconds * 1000;
    const cutoff = JSON.stringify(new Date(cutoffMs).toISOString());
    const res = { checked: 0, marked_offline: 0, removed_from_index: 0, removed_from_companies: 0, cutoff: new Date(cutoffMs).toISOString() };
    for (let b = 0; b < MAX_BATCHES; b++) {
      ctx.checkpoint();
      const uids = await redis.zrangebyscore(keys.activeUsers(), '-inf', cutoffMs, 'LIMIT', 0, BATCH);
      if (uids.length === 0) break;
      for (const uid of uids) {
        res.checked++;
        const marked = (await redis.eval(MARK_OFFLINE, 1, keys.user(uid), cutoff, JSON.stringify(new Date(now).toISOString()))) as number;
        if (marked === 0) continue; // heartbeat is fresh: the index entry is about to be refreshed too
        if (marked === 1) res.marked_offline++;
        const company = marked === -1 ? null : await redis.hget(keys.user(uid), field('companies', 'current_company_id'));
        const cid = company ? (JSON.parse(company) as string) : '';
        if (cid) res.removed_from_companies += (await redis.eval(ZREM_IF_OLD, 1, keys.company(cid), uid, cutoffMs)) as number;
        res.removed_from_index += (await redis.eval(ZREM_IF_OLD, 1, keys.activeUsers(), uid, cutoffMs)) as number;
      }
      if (uids.length < BATCH) break;
    }
    return res;
  },
});
