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

  // RPC idempotency (CONTRACT §3).
  idempotency: (method: string, key: string) => `idemp:${method}:${key}`,

  // Realtime.
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
  /**
   * Sorted set of live listener instances of one deployment (member instance id, score = heartbeat
   * expiry ms, Redis clock); `group` keeps deployments that share a Redis apart.
   */
  listenerInstances: (group: string) => `listeners:instances:${group}`,
  leaseFence: () => 'listeners:lease:fence',
  chatRefs: (uid: string, space: string, thread: string) => `listeners:chat_refs:${uid}:${space}:${thread}`,
  /** Hash of on-demand watchers a user asked for (field = JSON spec, value = reference count). */
  listenerWanted: (uid: string) => `listeners:wanted:${uid}`,
  /** Sorted set of registered listeners (member JSON [uid, listener_id], score heartbeat ms) for the expiry job. */
  listenerHeartbeats: () => 'listeners:heartbeats',
  /** Channel telling the lease owner of a user to reconcile its on-demand watchers (message = uid). */
  listenerControl: () => 'listeners:control',
  /** Once-per-period lock of the listener instances' own stale-listener expiry. */
  listenerExpiryLock: () => 'listeners:expiry_lock',

  // Background jobs.
  taskCancel: (tid: string) => `tasks:cancel:${tid}`,
  vectors: (collection: string) => `vectors:${collection}`,
  vectorsMeta: (collection: string) => `vectors:meta:${collection}`,
  schedulerRuns: (name: string) => `scheduler:runs:${name}`,
  /** Short lock held while TASK.start_* checks and enqueues one task id (two callers never both enqueue it). */
  taskStartLock: (tid: string) => `tasks:start_lock:${tid}`,
  /** Hash: last result of the scheduled dependency health check, one field per dependency. */
  dependencyHealth: () => 'scheduler:dependency_health',
} as const;

export interface ChannelNames {
  user(uid: string): string;
  chat(uid: string, space: string, thread: string): string;
}

export function channelNames(userPrefix: string, chatPrefix: string): ChannelNames {
  return {
    user: (uid) => `${userPrefix}${uid}`,
    chat: (uid, space, thread) => `${chatPrefix}${uid}:${space}:${thread}`,
  };
}
