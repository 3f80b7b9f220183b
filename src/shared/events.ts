import { randomUUID } from 'node:crypto';
import type { RedisClient } from './redis.js';
import type { ChannelNames } from './keys.js';

/** Event types of CONTRACT §6, declared once for publishers and the gateway. */
export type EventType =
  | 'notif.sync'
  | 'notif.add'
  | 'notif.update'
  | 'notif.remove'
  | 'msg.sync'
  | 'chat.message'
  | 'workflow.step_update'
  | 'workflow.invoice_update'
  | 'task.progress_update';

export interface EventEnvelope<P = Record<string, unknown>> {
  type: EventType;
  uid: string;
  timestamp: string;
  event_id: string;
  payload: P;
  /** Workflow events also carry the job id at top level. */
  job_id?: string;
}

/** socket.io event maps shared by the gateway and its clients. */
export interface ServerToClientEvents {
  event: (envelope: EventEnvelope) => void;
  /** Result of a replay asked for in the handshake (`auth.last_event_id`); complete=false: the id had left the history. */
  replayed: (result: { replayed: number; complete: boolean; last_event_id: string }) => void;
}
export interface ClientToServerEvents {
  /** Ask for missed events after `last_event_id` (also possible in the handshake auth). */
  replay: (lastEventId: string, ack?: (result: { replayed: number; complete: boolean }) => void) => void;
}

/**
 * Monotonic, sortable event ids: `{ms}-{seq}-{rand}`. Sorting by id orders events of one process;
 * replay uses the history list order, not the id, so cross-process ordering is publish order.
 */
let seq = 0;
export function newEventId(now = Date.now()): string {
  seq = (seq + 1) % 1_000_000;
  return `${now.toString(36)}-${seq.toString(36)}-${randomUUID().slice(0, 8)}`;
}

/** Makes values JSON-safe: Firestore Timestamps and Dates become ISO strings, cycles are cut. */
export function toJsonSafe(value: unknown, seen = new WeakSet<object>()): unknown {
  if (value === null || value === undefined) return value ?? null;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value !== 'object') return typeof value === 'function' || typeof value === 'symbol' ? null : value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  const v = value as Record<string, unknown>;
  if (typeof v.toDate === 'function' && typeof v.seconds === 'number') return (v.toDate as () => Date)().toISOString();
  if (typeof v._seconds === 'number' && typeof v._nanoseconds === 'number') {
    return new Date(v._seconds * 1000 + Math.floor(v._nanoseconds / 1e6)).toISOString();
  }
  if (typeof v.latitude === 'number' && typeof v.longitude === 'number' && Object.keys(v).length <= 2) return { latitude: v.latitude, longitude: v.longitude };
  if (typeof v.path === 'string' && typeof v.id === 'string' && 'firestore' in v) return v.path;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value as Uint8Array).toString('base64');
  if (seen.has(value)) return null;
  seen.add(value);
  if (Array.isArray(value)) return value.map((x) => toJsonSafe(x, seen));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toJsonSafe(x, seen);
  return out;
}

export function makeEvent<P extends Record<string, unknown>>(
  type: EventType,
  uid: string,
  payload: P,
  extra: { job_id?: string; now?: Date } = {},
): EventEnvelope<P> {
  const now = extra.now ?? new Date();
  const env: EventEnvelope<P> = {
    type,
    uid,
    timestamp: now.toISOString(),
    event_id: newEventId(now.getTime()),
    payload: toJsonSafe(payload) as P,
  };
  if (extra.job_id !== undefined) env.job_id = extra.job_id;
  return env;
}

/** The notification deltas (CONTRACT §13.5): socket clients get them, the Redis consumer channel only on request. */
export const DELTA_TYPES: ReadonlySet<EventType> = new Set<EventType>(['notif.add', 'notif.update', 'notif.remove']);

export function isDelta(type: string): boolean {
  return DELTA_TYPES.has(type as EventType);
}

export interface EventPublisher {
  /**
   * PUBLISH on `{prefix}{uid}` (deltas on the internal `rt:deltas:{uid}` instead, unless
   * `LISTENERS_REDIS_DELTAS=true`); also appended to the user's bounded replay history.
   */
  publishUser(event: EventEnvelope): Promise<void>;
  /** PUBLISH on the chat channel of CONTRACT §6 (and the user's channel for sockets). */
  publishChat(event: EventEnvelope, space: string, thread: string): Promise<void>;
}

export interface PublisherOptions {
  redis: RedisClient;
  channels: ChannelNames;
  history: { maxLen: number; maxAgeSeconds: number };
  historyKey: (uid: string) => string;
  onPublished?: (type: EventType) => void;
  /** LISTENERS_REDIS_DELTAS: put notif.add/update/remove on the consumer channel too (default: internal channel only). */
  redisDeltas?: boolean;
}

/**
 * Plain PUBLISH (no pattern subscriptions anywhere, CONTRACT §6), plus a bounded per-user history
 * list used for socket replay. History write and publish go in one MULTI so that a replay never
 * misses an event that was delivered live. The history key and the channel are different keys; on a
 * cluster the MULTI holds only the history key's commands and PUBLISH follows.
 */
export function createPublisher(o: PublisherOptions): EventPublisher {
  const record = async (event: EventEnvelope, channel: string) => {
    const json = JSON.stringify(event);
    if (o.history.maxLen > 0) {
      const key = o.historyKey(event.uid);
      await o.redis
        .multi()
        .rpush(key, json)
        .ltrim(key, -o.history.maxLen, -1)
        .expire(key, o.history.maxAgeSeconds)
        .exec();
    }
    await o.redis.publish(channel, json);
    o.onPublished?.(event.type);
  };
  return {
    // Each event goes out on exactly one user channel (CONTRACT §13.5); gateways subscribe both.
    publishUser: (event) => record(event, isDelta(event.type) && !o.redisDeltas ? o.channels.deltas(event.uid) : o.channels.user(event.uid)),
    async publishChat(event, space, thread) {
      const json = JSON.stringify(event);
      await o.redis.publish(o.channels.chat(event.uid, space, thread), json);
      await record(event, o.channels.user(event.uid));
    },
  };
}
