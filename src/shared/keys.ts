/**
 * Every Redis key and channel name in one place (CONTRACT §5-6). Nothing else builds key strings.
 */
export const keys = {
  // Unified registry (CONTRACT §5).
  user: (uid: string) => `registry:unified:${uid}`,
  session: (sid: string) => `registry:unified:session:${sid}`,
  company: (cid: string) => `registry:unified:company:${cid}`,
  task: (tid: string) => `registry:unified:task:${tid}`,
  userTasks: (uid: string) => `registry:unified:user_tasks:${uid}`,
  /** Sorted set of user ids by last activity, used by the scheduled cleanup (never scanned). */
  activeUsers: () => 'registry:unified:index:active_users',

  /** CHROMA_VECTOR collection registration (CONTRACT §13.7; hash, TTL 90 s renewed by heartbeat_collection). */
  chromaCollection: (uid: string, collection: string) => `registry:chroma:${uid}:${collection}`,

  // RPC idempotency (CONTRACT §3).
  idempotency: (method: string, key: string) => `idemp:${method}:${key}`,

  // Realtime.
  /**
   * Internal channel of the notif.add/update/remove deltas (CONTRACT §13.5): not the consumer
   * channel `{prefix}{uid}`, whose unchanged Python subscribers treat every notif.* as a full sync.
   */
  deltasChannel: (uid: string) => `rt:deltas:${uid}`,
  /**
   * A user's replay history. `{u:uid}` is a cluster hash tag shared with the lease and the
   * notification state: the publish script touches all three in one slot.
   */
  eventHistory: (uid: string) => `events:history:{u:${uid}}`,
  presenceSockets: (uid: string) => `presence:sockets:${uid}`,
  presenceOffline: () => 'presence:offline_pending',

  // Listeners.
  lease: (uid: string) => `listeners:lease:{u:${uid}}`,
  /** Hash doc_id -> item hash of the notifications last published for the user (the takeover's baseline). */
  notifState: (uid: string) => `listeners:notif_state:{u:${uid}}`,
  /** Hash task_id -> 1: the task's terminal event was published (exactly once, even when a crashed worker's retry publishes it again). */
  eventOnce: (uid: string) => `events:once:{u:${uid}}`,
  /**
   * Sorted set of live listener instances of one deployment (member instance id, score = heartbeat
   * expiry ms, Redis clock); `group` keeps deployments that share a Redis apart.
   */
  listenerInstances: (group: string) => `listeners:instances:${group}`,
  leaseFence: () => 'listeners:lease:fence',
  chatRefs: (uid: string, space: string, thread: string) => `listeners:chat_refs:${uid}:${space}:${thread}`,
  /** Hash of on-demand watchers a user asked for (field = JSON spec, value = reference count). */
  listenerWanted: (uid: string) => `listeners:wanted:${uid}`,
  /**
   * Sorted set of watcher requests held by open connections (`/ws` chat parameters): member JSON
   * [holder id, spec field], score = expiry ms, refreshed while the connection is open, so a
   * crashed node's requests lapse on their own.
   */
  listenerWantedHeld: (uid: string) => `listeners:wanted_held:${uid}`,
  /** Sorted set of registered listeners (member JSON [uid, listener_id], score heartbeat ms) for the expiry job. */
  listenerHeartbeats: () => 'listeners:heartbeats',
  /** Channel telling the lease owner of a user to reconcile its on-demand watchers (message = uid). */
  listenerControl: () => 'listeners:control',
  /** Once-per-period lock of the listener instances' own stale-listener expiry. */
  listenerExpiryLock: () => 'listeners:expiry_lock',

  // Background jobs.
  taskCancel: (tid: string) => `tasks:cancel:${tid}`,
  /** Vectors are stored per company (CONTRACT §13.8): one company never reads or overwrites another's. */
  vectors: (companyId: string, collection: string) => `vecs:${companyId}:${collection}`,
  vectorsMeta: (companyId: string, collection: string) => `vecs:meta:${companyId}:${collection}`,
  schedulerRuns: (name: string) => `scheduler:runs:${name}`,
  /** Short lock held while TASK.start_* checks and enqueues one task id (two callers never both enqueue it). */
  taskStartLock: (tid: string) => `tasks:start_lock:${tid}`,
  /** Hash: last result of the scheduled dependency health check, one field per dependency. */
  dependencyHealth: () => 'scheduler:dependency_health',

  // Operator console (src/console): one status record per process, all in one hash slot ({status})
  // so a console reads every record with one MGET, also on Redis Cluster.
  /** String (JSON, TTL): the status record of one process. */
  consoleStatus: (instanceId: string) => `console:{status}:proc:${instanceId}`,
  /** Sorted set of instance ids, score = last report (ms); entries older than the record TTL are pruned. */
  consoleStatusIndex: () => 'console:{status}:index',
} as const;

export interface ChannelNames {
  user(uid: string): string;
  chat(uid: string, space: string, thread: string): string;
  /** Internal per-user channel of the notification deltas (gateway nodes subscribe it too). */
  deltas(uid: string): string;
}

export function channelNames(userPrefix: string, chatPrefix: string): ChannelNames {
  return {
    user: (uid) => `${userPrefix}${uid}`,
    chat: (uid, space, thread) => `${chatPrefix}${uid}:${space}:${thread}`,
    deltas: (uid) => keys.deltasChannel(uid),
  };
}
