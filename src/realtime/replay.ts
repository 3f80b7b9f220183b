import { newEventId, type EventEnvelope } from '../shared/events.js';
import type { RedisClient } from '../shared/redis.js';

export interface ReplayResult {
  events: EventEnvelope[];
  /** False when `lastEventId` is no longer in the history: everything kept was returned. */
  complete: boolean;
}

/**
 * Separates a connect-time sync's own id from its anchor. Those syncs go to one socket and are not
 * in the history, so their id carries where in the history they were taken: the id of the last
 * history event at that moment (empty: the history was empty). Event ids never contain it.
 */
const ANCHOR_SEP = '~';

/**
 * Event id for a sync built for one connection (not published): `{fresh id}~{anchor}`, where the
 * anchor is the last history event id read before the sync's sources were (`''` when none). A
 * client reconnecting with it gets exactly the events published after that point.
 */
export function anchoredEventId(anchor: string): string {
  return `${newEventId()}${ANCHOR_SEP}${anchor}`;
}

/**
 * Id of the newest event in the history ('' when empty), read before a connect-time sync's sources
 * so that nothing published after the sync can sort before its anchor.
 */
export async function historyAnchor(redis: RedisClient, key: string): Promise<string> {
  const last = await redis.lindex(key, -1);
  if (last === null) return '';
  return eventIdOf(last) ?? '';
}

function eventIdOf(raw: string): string | undefined {
  try {
    const e = JSON.parse(raw) as { event_id?: unknown } | null;
    return e && typeof e.event_id === 'string' ? e.event_id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Events after `lastEventId` from the user's bounded history list (written by the publish script
 * with RPUSH + LTRIM + EXPIRE in the same step as the PUBLISH), in publish order. `lastEventId`
 * may be a published event's id or a connect-time sync's anchored id (`anchoredEventId`);
 * `complete` is false only when that point really left the window: the event (or anchor) was
 * trimmed or expired, or — for a sync taken on an empty history — the list has reached `maxLen`
 * since, so its oldest events may be gone.
 */
export async function readHistorySince(redis: RedisClient, key: string, lastEventId: string, maxLen?: number): Promise<ReplayResult> {
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
  const at = (id: string) => events.findIndex((e) => e.event_id === id);
  const idx = at(lastEventId);
  if (idx >= 0) return { events: events.slice(idx + 1), complete: true };
  const sep = lastEventId.indexOf(ANCHOR_SEP);
  if (sep < 0) return { events, complete: false };
  const anchor = lastEventId.slice(sep + 1);
  if (anchor === '') return { events, complete: maxLen === undefined || raw.length < maxLen };
  const a = at(anchor);
  if (a < 0) return { events, complete: false };
  return { events: events.slice(a + 1), complete: true };
}
