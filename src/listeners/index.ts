import type { BaseDeps, DependencyCheck } from '../app/deps.js';
import { PHASE } from '../app/phases.js';
import type { FirebaseHandle } from '../shared/firebase.js';
import type { Lifecycle } from '../shared/lifecycle.js';
import { channelNames, keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { createRedis, type RedisHandle } from '../shared/redis.js';
import { Coordinator } from './coordinator.js';
import { LeaseManager } from './lease.js';
import { listenerOptions, type ListenerOptions } from './options.js';
import { PresenceWatcher } from './presence.js';
import { ResilientWatch, type AttachFn } from './resilient.js';
import { ListenerBookkeeping } from './service.js';
import { UserSession } from './session.js';
import { WantedStore } from './wanted.js';

export { DEFAULT_LISTENER_OPTIONS, type ListenerOptions } from './options.js';

export interface ListenersHandle {
  readonly service: ListenerBookkeeping;
  readonly coordinator: Coordinator;
  readonly presence: PresenceWatcher;
  readonly leases: LeaseManager;
  counts(): { listeners_count: number; workflow_listeners_count: number };
  /** Stops watchers and timers, releases leases, closes the control subscriber. Idempotent. */
  close(): Promise<void>;
}

/** The listeners built but not started: `createCore` puts `service`, `counts` and `check` into the deps. */
export interface Listeners extends ListenersHandle {
  /** The optional /healthz check: the presence watcher is attached. */
  readonly check: DependencyCheck;
  /** Subscribes the control channel, starts the coordinator and the presence watcher, the expiry job, and registers the close at PHASE.listeners. Once. */
  start(): Promise<ListenersHandle>;
}

/** What the listeners are built from (the parts of the core that exist before the deps). */
export interface ListenerBase {
  readonly deps: Pick<BaseDeps, 'config' | 'logger' | 'metrics' | 'redis' | 'publisher'>;
  readonly firebase: FirebaseHandle;
  readonly lifecycle: Lifecycle;
}

/**
 * The Firestore listeners of CONTRACT §7 (api/all roles): presence watcher, per-user watchers on
 * the instance holding the user's Redis lease, on-demand chat/workflow watchers, and the listener
 * bookkeeping service. Built by `createCore` (so `deps.listeners` / `deps.listenerCounts` and the
 * check exist from the start); the composition root calls `start()`; closes at PHASE.listeners.
 */
export function createListeners(core: ListenerBase, opts: Partial<ListenerOptions> = {}): Listeners {
  const { config, redis } = core.deps;
  const options = listenerOptions(opts);
  const logger = core.deps.logger.child({ component: 'listeners' });
  // Steps: metrics → leases and presence (both report to the coordinator) → coordinator with its
  // session factory → bookkeeping; start(): control subscriber → start → expiry job → shutdown.
  const m = listenerMetrics(core.deps.metrics);
  const leases = createLeases(core, options, logger, m, (uid) => coordinator.onLeaseLost(uid));
  // Leases and presence report to the coordinator, which is built from them (hence the getter).
  const presence = createPresenceWatcher(core, options, logger, m, () => coordinator);
  const coordinator: Coordinator = new Coordinator({
    presence,
    leases,
    wanted: new WantedStore(redis),
    logger,
    options,
    newSession: sessionFactory(core, options, logger, m, leases),
    onSessionsChanged: () => {
      const c = sessionCounts(coordinator);
      m.usersGauge.set(c.listeners_count);
      m.workflowGauge.set(c.workflow_listeners_count);
    },
  });
  const counts = () => sessionCounts(coordinator);
  const service = createBookkeeping(core, logger);
  const handle: ListenersHandle = { service, coordinator, presence, leases, counts, close: () => Promise.resolve() };

  let starting: Promise<ListenersHandle> | undefined;
  const start = () =>
    (starting ??= (async () => {
      const sub = await subscribeControl(core, logger, coordinator);
      await coordinator.start();
      await presence.start();
      const expiryTimer = startExpiryJob(core, options, logger, service);
      if (!core.firebase.database) logger.warn('no Realtime Database configured: direct-message and chat watchers are off');
      let closing: Promise<void> | undefined;
      handle.close = () =>
        (closing ??= (async () => {
          if (expiryTimer) clearInterval(expiryTimer);
          presence.stop();
          await coordinator.close();
          await sub.close();
        })());
      core.lifecycle.add(PHASE.listeners, { name: 'listeners', close: () => handle.close() });
      logger.info({ instance_id: config.instanceId, options }, 'listeners started');
      return handle;
    })());
  return Object.assign(handle, { check: listenersCheck(core, coordinator), start });
}

function listenerMetrics(metrics: Metrics) {
  return {
    attached: metrics.gauge('listeners_watchers_attached', 'Source watchers attached on this instance', ['kind']),
    reattaches: metrics.counter('listeners_reattach_total', 'Watcher re-attaches after an error', ['kind']),
    suppressed: metrics.counter('listeners_events_fenced_total', 'Events not published because the lease was lost', ['type']),
    publishErrors: metrics.counter('listeners_publish_errors_total', 'Events that failed to publish', ['type']),
    leaseAcquired: metrics.counter('listeners_lease_acquired_total', 'User leases acquired by this instance'),
    leaseLost: metrics.counter('listeners_lease_lost_total', 'User leases lost (taken over or unrenewable)'),
    usersGauge: metrics.gauge('listeners_users_attached', 'Users whose watchers run on this instance'),
    workflowGauge: metrics.gauge('listeners_workflow_watchers', 'Workflow watchers on this instance'),
  };
}
type ListenerMetrics = ReturnType<typeof listenerMetrics>;

function sessionCounts(coordinator: Coordinator): { listeners_count: number; workflow_listeners_count: number } {
  let wf = 0;
  for (const s of coordinator.sessions.values()) wf += s.workflowCount;
  return { listeners_count: coordinator.sessions.size, workflow_listeners_count: wf };
}

/** Who is online (the listeners_registry documents) and with which companies, reported to the coordinator. */
function createPresenceWatcher(core: ListenerBase, options: ListenerOptions, logger: Logger, m: ListenerMetrics, coordinator: () => Coordinator): PresenceWatcher {
  return new PresenceWatcher({
    firestore: core.firebase.firestore,
    defaultTtlSeconds: core.deps.config.listenersTtlSeconds,
    expiryCheckMs: options.expiryCheckMs,
    backoffBaseMs: options.backoffBaseMs,
    backoffMaxMs: options.backoffMaxMs,
    logger,
    onOnline: (uid) => coordinator().onOnline(uid),
    onOffline: (uid) => coordinator().onOffline(uid),
    onCompanies: (uid, c) => coordinator().onCompanies(uid, c),
    onAttached: (delta) => m.attached.inc({ kind: 'presence' }, delta),
    onReattach: () => m.reattaches.inc({ kind: 'presence' }),
  });
}

/** The per-user Redis leases: only the holder of a user's lease runs (and publishes from) that user's watchers. */
function createLeases(core: ListenerBase, options: ListenerOptions, logger: Logger, m: ListenerMetrics, onLost: (uid: string) => void): LeaseManager {
  const { config } = core.deps;
  return new LeaseManager({
    redis: core.deps.redis,
    instanceId: config.instanceId,
    ttlMs: options.leaseTtlMs,
    // The takeover baseline outlives the gap between two owners (at most ~ one lease TTL) ten times over.
    stateTtlSeconds: Math.max(60, Math.ceil((options.leaseTtlMs * 10) / 1000)),
    // Instances watching the same Firestore are one deployment (an emulator is its own Firestore).
    instanceGroup: options.instanceGroup || `${config.firebase.projectId ?? 'default'}${config.firebase.firestoreEmulatorHost ? `@${config.firebase.firestoreEmulatorHost}` : ''}`,
    logger,
    onAcquired: () => m.leaseAcquired.inc(),
    onLost: (uid) => {
      m.leaseLost.inc();
      onLost(uid);
    },
  });
}

/** How a user's watchers are built: publishing fenced by the user's lease, each source behind a re-attaching watch. */
function sessionFactory(core: ListenerBase, options: ListenerOptions, logger: Logger, m: ListenerMetrics, leases: LeaseManager): (uid: string, companies: readonly string[]) => UserSession {
  const { config, publisher } = core.deps;
  const resilient = (kind: string, attach: AttachFn) =>
    new ResilientWatch({
      kind,
      attach,
      backoffBaseMs: options.backoffBaseMs,
      backoffMaxMs: options.backoffMaxMs,
      logger,
      onAttached: (delta) => m.attached.inc({ kind }, delta),
      onReattach: () => m.reattaches.inc({ kind }),
    }).start();
  return (uid, companies) =>
    new UserSession(uid, companies, {
      firestore: core.firebase.firestore,
      database: core.firebase.database,
      publisher: publisher.fenced(leases.fence(uid) ?? { uid, value: '\u0000not-held', stateTtlSeconds: 1 }),
      logger,
      workflowEnabled: config.workflowListenerEnabled,
      canPublish: (u) => leases.canPublish(u),
      onFenced: (u) => leases.fenced(u),
      previousState: (u) => leases.previousState(u),
      resilient,
      onSuppressed: (type) => m.suppressed.inc({ type }),
      onPublishError: (type) => m.publishErrors.inc({ type }),
    });
}

/** Control channel: "user X's watcher requests changed" (plain SUBSCRIBE on one channel). */
async function subscribeControl(core: ListenerBase, logger: Logger, coordinator: Coordinator): Promise<RedisHandle> {
  const { config, metrics } = core.deps;
  const sub: RedisHandle = createRedis({ settings: config.redis, name: `pinnokio:listeners-control:${config.instanceId}`, logger });
  // Anyone with Redis access can publish here: a message that cannot be a uid is logged (size
  // only) and counted, and nothing a message does can throw out of this handler.
  const controlInvalid = metrics.counter('listeners_control_invalid_messages_total', 'Messages on the listeners control channel that are not a uid');
  sub.client.on('message', (channel: string, uid: string) => {
    if (channel !== keys.listenerControl()) return;
    try {
      if (typeof uid !== 'string' || uid.length === 0 || uid.length > 256) throw new Error('not a uid');
      coordinator.onControl(uid);
    } catch (err) {
      controlInvalid.inc();
      logger.warn({ channel, bytes: typeof uid === 'string' ? uid.length : 0, err: (err as Error).message }, 'listeners: ignoring an invalid control message');
    }
  });
  await sub.client.subscribe(keys.listenerControl());
  return sub;
}

/** The in-process stale-listener expiry (every expiryJobMs, one instance at a time through a Redis lock); undefined when off. */
function startExpiryJob(core: ListenerBase, options: ListenerOptions, logger: Logger, service: ListenerBookkeeping): NodeJS.Timeout | undefined {
  const { config, redis } = core.deps;
  if (options.expiryJobMs <= 0) return undefined;
  const runExpiry = async () => {
    try {
      const lock = await redis.set(keys.listenerExpiryLock(), config.instanceId, 'PX', Math.max(1000, options.expiryJobMs - 1000), 'NX');
      if (lock === 'OK') await service.expireStaleListeners();
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'stale listener expiry failed');
    }
  };
  const timer = setInterval(() => void runExpiry(), options.expiryJobMs);
  timer.unref?.();
  return timer;
}

/** Optional /healthz check: the presence watcher is attached. */
function listenersCheck(core: ListenerBase, coordinator: Coordinator): DependencyCheck {
  return {
    name: 'listeners',
    required: false,
    async check() {
      const n = await core.deps.metrics.value('listeners_watchers_attached', { kind: 'presence' });
      return n > 0 ? { ok: true, detail: `${coordinator.sessions.size} users attached` } : { ok: false, detail: 'presence watcher not attached (re-attaching)' };
    },
  };
}

/** The bookkeeping service (Firestore documents + Redis requests and heartbeat index). */
function createBookkeeping(core: ListenerBase, logger: Logger): ListenerBookkeeping {
  const { config, redis } = core.deps;
  return new ListenerBookkeeping({
    firestore: core.firebase.firestore,
    redis,
    wanted: new WantedStore(redis),
    channels: channelNames(config.channelPrefix, config.chatChannelPrefix),
    ttlSeconds: config.listenersTtlSeconds,
    instanceId: config.instanceId,
    workflowEnabled: config.workflowListenerEnabled,
    logger,
  });
}

/**
 * The listener bookkeeping alone (Firestore documents + Redis requests and heartbeat index), for
 * processes that do not run the watchers: worker and beat roles, or an api with
 * LISTENERS_ENABLED=false. The scheduler's `listener_expiry` job then does real work in a split
 * deployment, and REGISTRY.*listener* calls still reach the lease owners through Redis.
 */
export function createListenerBookkeeping(core: ListenerBase): ListenerBookkeeping {
  return createBookkeeping(core, core.deps.logger.child({ component: 'listeners-bookkeeping' }));
}
