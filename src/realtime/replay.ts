import type { EventEnvelope } from '../shared/events.js';
import type { RedisClient } from '../shared/redis.js';

export interface ReplayResult {
  events: EventEnvelope[];
  /** False when `lastEventId` is no longer in the history: everything kept was returned. */
  complete: boolean;
}

/**
 * Events after `lastEventId` from the user's bounded history list (written by the publisher with
 * RPUSH + LTRIM + EXPIRE before each PUBLISH), in publish order.
 */
export async function readHistorySince(redis: RedisClient, key: string, lastEventId: string): Promise<ReplayResult> {
  const raw = await redis.lrange(key, 0, -1);
  const events: EventEnvelope[] = [];
  for (const r of raw) {
    try {
      const e = JSON.parse(r) as EventEnvelope;
      if (e && typeof e.event_id === 'string') events.push(e);
    } catch {
      // A malformed history entry is skipped; the publisher only writes JSON envelopes.
    }
  }
  const idx = events.findIndex((e) => e.event_id === lastEventId);
  if (idx < 0) return { events, complete: false };
  return { events: events.slice(idx + 1), complete: true };
}
