import type { RedisClient } from '../shared/redis.js';
import type { DependencyCheck } from './deps.js';

/** A required dependency check: the Redis answers PING (/healthz, /readyz, /debug). */
export function redisCheck(deps: { redis: RedisClient }, name = 'redis'): DependencyCheck {
  return {
    name,
    required: true,
    async check() {
      const pong = await deps.redis.ping();
      return { ok: pong === 'PONG' };
    },
  };
}
