import type { Config } from './config/schema.js';
import type { BaseDeps, DependencyCheck, ServiceDeps } from './app/deps.js';
import { redisCheck } from './app/checks.js';
import { PHASE } from './app/phases.js';
import { createRegistryModeDecider, type RegistryModeDecider } from './flags/registryMode.js';
import type { Flags } from './flags/flags.js';
import { FirestorePresence, LegacyRegistryStore } from './registry/legacyStore.js';
import { RegistryRouter } from './registry/router.js';
import { RedisTaskRegistry } from './registry/taskRegistry.js';
import { UnifiedRegistryStore } from './registry/unifiedStore.js';
import { createPublisher } from './shared/events.js';
import type { FirebaseHandle } from './shared/firebase.js';
import { channelNames, keys } from './shared/keys.js';
import { Lifecycle } from './shared/lifecycle.js';
import type { Logger } from './shared/logger.js';
import { Metrics } from './shared/metrics.js';
import { createRedis, type RedisHandle } from './shared/redis.js';
import { createListenerBookkeeping, createListeners, type Listeners, type ListenerOptions } from './listeners/index.js';
import { createTasks, type TasksRuntime } from './workers/runtime.js';

export { PHASE };

export interface Core {
  readonly deps: ServiceDeps;
  readonly redis: RedisHandle;
  readonly firebase: FirebaseHandle;
  readonly lifecycle: Lifecycle;
  /** The queues and the task service (workers, scheduler, dashboard and console use them); absent without `tasks: true`. */
  readonly tasks: TasksRuntime | undefined;
  /** The listener watchers, built but not started (the composition root calls `start()`); absent unless `listeners: 'watchers'`. */
  readonly listeners: Listeners | undefined;
}

export interface CoreOptions {
  config: Config;
  logger: Logger;
  firebase: FirebaseHandle;
  /** Per-user flags (Unleash in production, StaticFlags in tests); undefined = master switch only. */
  flags?: Flags;
  metrics?: Metrics;
  /** Poll period of the runtime master-switch override key (ms). */
  masterSwitchPollMs?: number;
  /** Build the queues and the task service (`core.tasks`, `deps.tasks`, the queue Redis check). */
  tasks?: boolean;
  /**
   * 'watchers': the Firestore listeners (`core.listeners`, started later) with their bookkeeping,
   * counts and check; 'bookkeeping': the bookkeeping alone (REGISTRY listener methods, listener
   * expiry); absent: neither (`deps.listeners` undefined).
   */
  listeners?: 'watchers' | 'bookkeeping';
  /** Timing knobs of the watchers (tests). */
  listenerOptions?: Partial<ListenerOptions>;
  /** More health checks (e.g. Firestore when the watchers run), after the queue Redis check. */
  checks?: readonly DependencyCheck[];
}

/**
 * Connections and domain objects every role shares: the main Redis, the publisher, both
 * registries behind the router, and the optional parts this process runs (queues and task
 * service, listeners). Whoever calls this owns `lifecycle` and must close it.
 *
 * Built once, in dependency order, so that no field of `ServiceDeps` is assigned afterwards:
 * connections and registries → queues → task service (needs the registries) → listener
 * bookkeeping / watchers (need Redis, Firestore, the publisher) → checks (need the queues and the
 * watchers) → deps. The API is built from the finished deps by the caller.
 */
export function createCore(o: CoreOptions): Core {
  const { config, logger, firebase } = o;
  const lifecycle = new Lifecycle(logger);
  const metrics = o.metrics ?? new Metrics();
  // Request path: batch a tick's commands into one write, and fail fast while disconnected (no
  // offline queue) so the registry falls back to legacy instead of hanging until timeout_ms.
  const redis = createRedis({ settings: config.redis, name: `pinnokio:main:${config.instanceId}`, logger, autoPipelining: true, enableOfflineQueue: false });
  lifecycle.add(PHASE.redis, redis);
  lifecycle.add(PHASE.firebase, { name: 'firebase', close: () => firebase.close() });

  const published = metrics.counter('events_published_total', 'Events published on Redis by type', ['type']);
  const publisher = createPublisher({
    redis: redis.client,
    channels: channelNames(config.channelPrefix, config.chatChannelPrefix),
    history: config.eventHistory,
    historyKey: keys.eventHistory,
    leaseKey: keys.lease,
    stateKey: keys.notifState,
    onPublished: (type) => published.inc({ type }),
    redisDeltas: config.redisDeltas,
  });

  const decider = createRegistryModeDecider({
    envSwitch: config.unifiedRegistryEnabled,
    flags: o.flags,
    redis: redis.client,
    logger,
    ...(o.masterSwitchPollMs !== undefined ? { pollMs: o.masterSwitchPollMs } : {}),
  });
  lifecycle.add(PHASE.flags, { name: 'registry-mode', close: () => decider.close() });
  if (o.flags) lifecycle.add(PHASE.flags, { name: 'flags', close: () => o.flags!.close() });

  const { registry, taskRegistry } = createRegistries({ config, logger, firebase, redis: redis.client, decider, metrics });

  const base: BaseDeps = {
    config,
    logger,
    metrics,
    redis: redis.client,
    firestore: firebase.firestore,
    registry,
    taskRegistry,
    decider,
    publisher,
    startedAt: Date.now(),
  };
  const { tasks, listeners, deps } = createParts(o, base, { firebase, lifecycle, redis: redis.client });
  return { deps, redis, firebase, lifecycle, tasks, listeners };
}

/** The optional parts on the base (queues → task service → listener bookkeeping / watchers), then the checks, then the deps. */
function createParts(o: CoreOptions, base: BaseDeps, c: { firebase: FirebaseHandle; lifecycle: Lifecycle; redis: RedisHandle['client'] }): { tasks: TasksRuntime | undefined; listeners: Listeners | undefined; deps: ServiceDeps } {
  const tasks = o.tasks ? createTasks({ deps: base, lifecycle: c.lifecycle }) : undefined;
  const listenerBase = { deps: base, firebase: c.firebase, lifecycle: c.lifecycle };
  const listeners = o.listeners === 'watchers' ? createListeners(listenerBase, o.listenerOptions) : undefined;
  const bookkeeping = listeners?.service ?? (o.listeners === 'bookkeeping' ? createListenerBookkeeping(listenerBase) : undefined);
  const checks: DependencyCheck[] = [redisCheck({ redis: c.redis })];
  if (tasks) checks.push(tasks.check);
  checks.push(...(o.checks ?? []));
  if (listeners) checks.push(listeners.check);
  const deps: ServiceDeps = {
    ...base,
    ...(tasks ? { tasks: tasks.service } : {}),
    ...(bookkeeping ? { listeners: bookkeeping } : {}),
    ...(listeners ? { listenerCounts: () => listeners.counts() } : {}),
    checks,
  };
  return { tasks, listeners, deps };
}

/** Both registries behind the router (unified on Redis, legacy on Firestore), and the task registry that notes tasks on the user document. */
function createRegistries(o: { config: Config; logger: Logger; firebase: FirebaseHandle; redis: RedisHandle['client']; decider: RegistryModeDecider; metrics: Metrics }): { registry: RegistryRouter; taskRegistry: RedisTaskRegistry } {
  const { config, logger, firebase, decider, metrics } = o;
  const presenceOpts = { ttlSeconds: config.listenersTtlSeconds, instanceId: config.instanceId };
  const unified = new UnifiedRegistryStore(o.redis, { heartbeatTtlSeconds: config.listenersTtlSeconds });
  const legacy = new LegacyRegistryStore(firebase.firestore, presenceOpts);
  const registry = new RegistryRouter({
    unified,
    legacy,
    presence: new FirestorePresence(firebase.firestore, presenceOpts),
    decider,
    logger: config.registryDebug ? logger.child({ component: 'registry' }, { level: 'debug' }) : logger.child({ component: 'registry' }),
    metrics,
    debug: config.registryDebug,
  });
  const taskRegistry = new RedisTaskRegistry(o.redis, {
    onTask: (uid, tid, terminal) => registry.noteTask(uid, tid, terminal).catch((err: Error) => logger.warn({ err: err.message, task_id: tid }, 'could not note task on user document')),
  });
  return { registry, taskRegistry };
}

/** A Firestore check for /readyz when the listeners run in this process. */
export function firestoreCheck(firebase: FirebaseHandle): DependencyCheck {
  return {
    name: 'firestore',
    required: true,
    async check() {
      await firebase.firestore.collection('listeners_registry').limit(1).get();
      return { ok: true };
    },
  };
}
