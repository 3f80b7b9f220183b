import { createHash, randomUUID } from 'node:crypto';
import type { RedisClient } from './redis.js';
import { keys, type ChannelNames } from './keys.js';

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

/**
 * The lease a per-user publisher is bound to: the publish script refuses (nothing appended, nothing
 * published) unless `leaseKey` still holds `value` at the moment of the write.
 */
export interface Fence {
  /** The only user this publisher publishes for. */
  uid: string;
  /** The lease key's value while this owner holds it (`{instance}|{token}`). */
  value: string;
  /** TTL of the user's notification state (doc_id -> item hash of what was published), read at a takeover. */
  stateTtlSeconds: number;
}

/** Thrown by a fenced publisher when Redis refused the publish: the lease is no longer ours. */
export class FencedError extends Error {
  constructor(readonly uid: string) {
    super('publish refused: the lease is held by another owner');
    this.name = 'FencedError';
  }
}

export interface PublishOptions {
  /**
   * Publish this event at most once per `once` (a task id): the script records the name in the
   * user's once-hash atomically with the publish, and a second publish under the same name is a
   * no-op. Used for terminal task events, so a retry that re-publishes a terminal event whose first
   * publish it cannot know about (a worker killed between the registry update and the publish)
   * neither loses nor doubles it.
   */
  once?: string;
  /**
   * Publish only while the user's once-hash has no field `unlessOnce`, recording nothing: a task's
   * progress event names its task's ending mark (endingMark()), which every terminal writer sets
   * before its registry update, so a progress event never follows its task's terminal event, even
   * when it is sent in the same round trip as its own registry update. Ignored when `once` is set.
   */
  unlessOnce?: string;
}

export interface EventPublisher {
  /**
   * PUBLISH on `{prefix}{uid}` (deltas on the internal `rt:deltas:{uid}` instead, unless
   * `LISTENERS_REDIS_DELTAS=true`); also appended to the user's bounded replay history.
   */
  publishUser(event: EventEnvelope, opts?: PublishOptions): Promise<void>;
  /** PUBLISH on the chat channel of CONTRACT §6 (and the user's channel for sockets). */
  publishChat(event: EventEnvelope, space: string, thread: string): Promise<void>;
  /**
   * The same publisher bound to a lease (listeners): each publish checks the fencing value inside
   * the script and throws FencedError when refused, and keeps the user's notification state.
   */
  fenced(fence: Fence): EventPublisher;
}

export interface PublisherOptions {
  redis: RedisClient;
  channels: ChannelNames;
  history: { maxLen: number; maxAgeSeconds: number };
  historyKey: (uid: string) => string;
  /** Lease and notification-state keys of a user; must share the history key's hash slot. */
  leaseKey: (uid: string) => string;
  stateKey: (uid: string) => string;
  onPublished?: (type: EventType) => void;
  /** Hash of the names already published once for a user (PublishOptions.once); same hash slot as the history. Default keys.eventOnce. */
  onceKey?: (uid: string) => string;
  /** LISTENERS_REDIS_DELTAS: put notif.add/update/remove on the consumer channel too (default: internal channel only). */
  redisDeltas?: boolean;
}

/**
 * One round trip per event, atomically: fencing check (when ARGV[1] is not empty), history append
 * (RPUSH + LTRIM + EXPIRE), notification-state update, PUBLISH. The state hash always holds the
 * field '' (never a Firestore id) once a sync was recorded, so "published nothing" differs from
 * "no baseline"; add/update/remove only change a state that a sync started. KEYS are one user's history, lease
 * and state keys, hash-tagged together so the script runs on a cluster (channels are not keys).
 * KEYS[4] is the user's once-hash: with ARGV[9] set, a name already in it means "published before"
 * and nothing happens (returns 2); ARGV[10] is how long the name is remembered, or '-1' for a
 * check only (PublishOptions.unlessOnce: publish unless the name is there, record nothing).
 * Returns 0 when the fence refused, 1 when published.
 */
const PUBLISH_LUA = `
if ARGV[1] ~= '' and redis.call('get', KEYS[2]) ~= ARGV[1] then return 0 end
if ARGV[9] ~= '' then
  if ARGV[10] == '-1' then
    if redis.call('hexists', KEYS[4], ARGV[9]) == 1 then return 2 end
  else
    if redis.call('hsetnx', KEYS[4], ARGV[9], '1') == 0 then return 2 end
    redis.call('expire', KEYS[4], ARGV[10])
  end
end
local maxLen = tonumber(ARGV[3])
if maxLen > 0 then
  redis.call('rpush', KEYS[1], ARGV[2])
  redis.call('ltrim', KEYS[1], -maxLen, -1)
  redis.call('expire', KEYS[1], ARGV[4])
end
local op = ARGV[7]
if op == 'replace' then
  redis.call('del', KEYS[3])
  redis.call('hset', KEYS[3], '', '1')
elseif op ~= '' and redis.call('exists', KEYS[3]) == 0 then
  op = ''
end
if op ~= '' then
  local n = #ARGV
  local i = 11
  while i <= n do
    local j = math.min(n, i + 999)
    if op == 'del' then
      redis.call('hdel', KEYS[3], unpack(ARGV, i, j))
    else
      if (j - i) % 2 == 0 then j = j - 1 end
      if j >= i then redis.call('hset', KEYS[3], unpack(ARGV, i, j)) end
    end
    i = j + 1
  end
  redis.call('expire', KEYS[3], ARGV[8])
end
if ARGV[6] ~= '' then redis.call('publish', ARGV[6], ARGV[2]) end
redis.call('publish', ARGV[5], ARGV[2])
return 1
`;

type PublishCommand = (
  historyKey: string,
  leaseKey: string,
  stateKey: string,
  onceKey: string,
  fence: string,
  json: string,
  maxLen: number,
  maxAge: number,
  channel: string,
  extraChannel: string,
  stateOp: string,
  stateTtl: number,
  once: string,
  onceTtl: number,
  ...state: string[]
) => Promise<number>;

const COMMAND = 'rtPublishEvent';

/** The once-hash field a task's terminal writers set before ending it (ids never contain a space). */
export const endingMark = (taskId: string): string => `ending ${taskId}`;

/** Sets `taskId`'s ending mark in the user's once-hash (see PublishOptions.unlessOnce). */
export function markEnding(redis: RedisClient, userId: string, taskId: string): Promise<unknown> {
  const k = keys.eventOnce(userId);
  return Promise.all([redis.hset(k, endingMark(taskId), '1'), redis.expire(k, ONCE_TTL_SECONDS)]);
}

/** How long a name published once is remembered (longer than any task's life: max_duration + 300 s). */
const ONCE_TTL_SECONDS = 2 * 24 * 3600;

/** Registers the publish script on a client once (ioredis sends EVALSHA, falling back to EVAL). */
function publishCommand(redis: RedisClient): PublishCommand {
  const r = redis as unknown as Record<string, PublishCommand | undefined>;
  if (typeof r[COMMAND] !== 'function') redis.defineCommand(COMMAND, { numberOfKeys: 4, lua: PUBLISH_LUA });
  return (r[COMMAND] as PublishCommand).bind(redis);
}

/** Keys sorted at every depth, so the hash of an item does not depend on property order. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** Short content hash of a notification item as published (sync list entry or add/update payload). */
export function notificationHash(item: unknown): string {
  return createHash('sha1').update(stableJson(item)).digest('base64').slice(0, 16);
}

/** The state-hash change a notification event implies (doc_id -> item hash). */
function stateChange(event: EventEnvelope): string[] {
  const p = event.payload;
  switch (event.type) {
    case 'notif.sync': {
      const list = Array.isArray(p.notifications) ? (p.notifications as unknown[]) : [];
      const out = ['replace'];
      for (const item of list) {
        const id = (item as { doc_id?: unknown } | null)?.doc_id;
        if (typeof id === 'string' && id !== '') out.push(id, notificationHash(item));
      }
      return out;
    }
    case 'notif.add':
    case 'notif.update':
      return typeof p.doc_id === 'string' && p.doc_id !== '' ? ['set', p.doc_id, notificationHash(p)] : [''];
    case 'notif.remove':
      return typeof p.doc_id === 'string' && p.doc_id !== '' ? ['del', p.doc_id] : [''];
    default:
      return [''];
  }
}

/**
 * Plain PUBLISH (no pattern subscriptions anywhere, CONTRACT §6), plus a bounded per-user history
 * list used for socket replay, written by one Lua script in the same round trip, so a replay never
 * misses an event that was delivered live, a process killed mid-publish cannot leave an event in the
 * history that sockets never got, and a deposed lease owner can never publish. On a cluster the
 * script runs on the node of the user's hash-tagged keys, so every event of a user is published from
 * one node, in order (a keyless PUBLISH of its own would go to a random node and could be reordered).
 */
export function createPublisher(o: PublisherOptions): EventPublisher {
  const run = publishCommand(o.redis);
  const onceKey = o.onceKey ?? keys.eventOnce;
  const send = async (event: EventEnvelope, channel: string, extraChannel: string, fence: Fence | undefined, opts?: PublishOptions): Promise<void> => {
    const once = opts?.once ?? opts?.unlessOnce;
    const onceTtl = opts?.once ? ONCE_TTL_SECONDS : -1;
    const uid = event.uid;
    if (fence && uid !== fence.uid) throw new Error('fenced publisher used for another user');
    const json = JSON.stringify(event);
    const [op, ...state] = fence ? stateChange(event) : [''];
    const ok = await run(
      o.historyKey(uid),
      o.leaseKey(uid),
      o.stateKey(uid),
      onceKey(uid),
      fence ? fence.value : '',
      json,
      o.history.maxLen,
      o.history.maxAgeSeconds,
      channel,
      extraChannel,
      op ?? '',
      fence ? fence.stateTtlSeconds : 0,
      once ?? '',
      onceTtl,
      ...state,
    );
    if (Number(ok) === 2) return; // published once already
    if (Number(ok) !== 1) throw new FencedError(uid);
    o.onPublished?.(event.type);
  };
  const channelOf = (event: EventEnvelope) =>
    // Each event goes out on exactly one user channel (CONTRACT §13.5); gateways subscribe both.
    isDelta(event.type) && !o.redisDeltas ? o.channels.deltas(event.uid) : o.channels.user(event.uid);
  const make = (fence: Fence | undefined): EventPublisher => ({
    publishUser: (event, opts) => send(event, channelOf(event), '', fence, opts),
    publishChat: (event, space, thread) => send(event, o.channels.user(event.uid), o.channels.chat(event.uid, space, thread), fence),
    fenced: (f) => make(f),
  });
  return make(undefined);
}
