import type { Config } from './config/schema.js';
import type { DependencyCheck, ServiceDeps } from './app/deps.js';
import { redisCheck } from './app/checks.js';
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

/** Shutdown phases (DESIGN habit 7). */
export const PHASE = { intake: 10, listeners: 20, workers: 30, queues: 40, flags: 50, redis: 60, firebase: 65, logs: 70 } as const;

export interface Core {
  deps: ServiceDeps;
  redis: RedisHandle;
  firebase: FirebaseHandle;
  lifecycle: Lifecycle;
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
}

/**
 * Connections and domain objects every role shares: the main Redis, the publisher, both
 * registries behind the router. Whoever calls this owns `lifecycle` and must close it.
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

  const checks: DependencyCheck[] = [redisCheck({ redis: redis.client })];
  const deps: ServiceDeps = {
    config,
    logger,
    metrics,
    redis: redis.client,
    firestore: firebase.firestore,
    registry,
    taskRegistry,
    decider,
    publisher,
    checks,
    startedAt: Date.now(),
  };
  return { deps, redis, firebase, lifecycle };
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
