import { PHASE, type Core } from '../core.js';
import { WantedStore } from '../listeners/wanted.js';
import { CidrSet } from '../shared/cidr.js';
import { FirestorePresence } from '../registry/legacyStore.js';
import type { RoleContext } from '../roles.js';
import { channelNames, keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { createRedis, type RedisClient, type RedisHandle } from '../shared/redis.js';
import { registerAdminPage } from './admin.js';
import { guardAdapterClient } from './adapterGuard.js';
import { createAuthenticator } from './auth.js';
import { ConnectionManager } from './connections.js';
import { SocketPresence, type PresenceTimings } from './presence.js';
import { attachRawWs, type RawWsGateway, type RawWsOptions } from './rawWs.js';
import { DEFAULT_SINK_LIMITS, type SinkLimits } from './sink.js';
import { createSocketServer, type GatewayServer, type SocketLimits } from './socketio.js';
import { UserChannels } from './subscriptions.js';

export { createAuthenticator, GatewayAuthError } from './auth.js';

export interface GatewayOptions {
  /** Presence timings; defaults: heartbeat = LISTENERS_HEARTBEAT_INTERVAL, connection TTL = LISTENERS_TTL_SECONDS, grace 15 s. */
  presence?: Partial<PresenceTimings> | false;
  /** Slow-client bounds (see sink.ts / socketio.ts). */
  limits?: Partial<SinkLimits & SocketLimits & { wsMaxBufferedBytes: number }>;
  socketPath?: string;
  wsPath?: string;
  /** Serve GET /admin (default true). */
  adminPage?: boolean;
  /** How often /ws clients are pinged; one that did not answer the previous ping is closed (default 25 s). */
  wsPingIntervalMs?: number;
}

export interface Gateway {
  io: GatewayServer;
  ws: RawWsGateway;
  channels: UserChannels;
  presence: SocketPresence | undefined;
  manager: ConnectionManager;
  /** Disconnects every socket of this node and stops accepting new ones. Idempotent. */
  closeIntake(): Promise<void>;
}

export const DEFAULT_PRESENCE_GRACE_MS = 15000;
/** A /ws chat-watcher request lapses this long after its node stopped renewing it (renewed every third of it). */
export const WS_CHAT_HOLD_TTL_MS = 60000;

/**
 * The realtime gateway (CONTRACT §8) on `ctx.app.server`, before it listens: socket.io with the
 * Redis adapter, the raw /ws endpoint, presence from sockets and the /admin status page. Its own
 * Redis connections close in PHASE.redis; sockets close in PHASE.intake (and in Fastify's preClose,
 * so `app.close()` never waits on open WebSockets).
 */
export async function attachGateway(ctx: RoleContext, opts: GatewayOptions = {}): Promise<Gateway | undefined> {
  const { core, app } = ctx;
  const { config } = core.deps;
  if (!app) return undefined;
  const logger = core.deps.logger.child({ component: 'realtime' });
  const socketPath = opts.socketPath ?? '/socket.io';
  // Steps, in order: own Redis connections → metrics → user channels → presence → connection
  // manager → socket.io and /ws on the app's server → admin page → shutdown of the intake.
  const conn = gatewayRedis(core, logger);
  const m = gatewayMetrics(core.deps.metrics);
  const names = channelNames(config.channelPrefix, config.chatChannelPrefix);
  const channels = new UserChannels({
    sub: conn.userSub,
    channel: (uid: string) => names.user(uid),
    // Deltas travel on an internal channel unless LISTENERS_REDIS_DELTAS puts them on the user channel.
    ...(config.redisDeltas ? {} : { deltaChannel: keys.deltasChannel }),
    logger,
    onInvalid: () => m.invalid.inc(),
    onSubscribedCount: (n) => m.subscribed.set(n),
  });
  const presence = opts.presence === false ? undefined : createPresence(core, opts.presence ?? {}, logger, m);
  const l = opts.limits ?? {};
  const manager = createManager(core, { channels, presence, limits: l, logger, m });

  let closing = false;
  const isClosing = () => closing;
  const auth = createAuthenticator({ auth: core.firebase.auth, serviceToken: config.serviceToken, checkRevoked: config.firebase.checkRevoked });
  const onAuthFailure = (code: string) => m.authFailures.inc({ code });
  const io = createSocketServer({
    server: app.server,
    path: socketPath,
    allowedOrigins: config.allowedOrigins,
    adapter: { pub: conn.adapterPub, sub: conn.adapterSub, sharded: config.redis.cluster },
    auth,
    serviceToken: config.serviceToken,
    manager,
    limits: { maxQueuedPackets: l.maxQueuedPackets ?? 1000, maxBufferedBytes: l.maxBufferedBytes ?? 4 * 1024 * 1024 },
    logger,
    isClosing,
    onAuthFailure,
  });
  const ws = attachRawWs(rawWsOptions(core, opts, { server: app.server, socketPath, auth, manager, logger, isClosing, onAuthFailure, m }));
  if (config.wsTrustedNetworks.length > 0) logger.warn({ networks: config.wsTrustedNetworks, proxies: config.trustedProxies }, 'realtime: /ws migration bridge is ON (WS_TRUSTED_NETWORKS)');
  if (opts.adminPage !== false) registerAdminPage(app, { core, socketPath });

  const closeIntake = intakeCloser({ io, ws, manager, presence, channels }, () => {
    closing = true;
  });
  app.addHook('preClose', closeIntake);
  core.lifecycle.add(PHASE.intake, { name: 'realtime', close: closeIntake });
  logger.info({ socket_path: socketPath, ws_path: opts.wsPath ?? '/ws', sharded_adapter: config.redis.cluster, origins: config.allowedOrigins }, 'realtime gateway attached');
  return { io, ws, channels, presence, manager, closeIntake };
}

/** Closes the gateway's intake once (idempotent): refuses new sockets, then closes this node's own. */
function intakeCloser(g: Omit<Gateway, 'closeIntake'>, markClosing: () => void): () => Promise<void> {
  let intake: Promise<void> | undefined;
  return () => {
    intake ??= (async () => {
      markClosing();
      // Local sockets only: a shutting-down node must not disconnect other nodes' sockets.
      g.io.local.disconnectSockets(true);
      await g.ws.close();
      await g.manager.closeAll();
      g.presence?.close();
      g.channels.close();
      g.io.engine.close();
      await Promise.resolve(g.io.of('/').adapter.close()).catch(() => undefined);
    })();
    return intake;
  };
}

/**
 * The gateway's own Redis connections (closed in PHASE.redis): the socket.io adapter's publisher and
 * subscriber behind the adapter guard, and the subscriber of the user channels.
 */
function gatewayRedis(core: Core, logger: Logger): { adapterPub: RedisClient; adapterSub: RedisClient; userSub: RedisClient } {
  const { config, metrics } = core.deps;
  const handles: RedisHandle[] = [];
  const redis = (role: string, extra: { shardedSubscribers?: boolean } = {}) => {
    const h = createRedis({ settings: config.redis, name: `pinnokio:gw-${role}:${config.instanceId}`, logger, ...extra });
    handles.push(h);
    return h.client;
  };
  const adapterInvalid = metrics.counter('realtime_adapter_invalid_messages_total', 'Messages on socket.io adapter channels that were not adapter messages (or made the adapter fail)');
  const adapterErrors = metrics.counter('realtime_adapter_command_errors_total', 'Failed Redis commands issued by the socket.io adapter', ['command']);
  const guardOpts = { logger, onInvalid: () => adapterInvalid.inc(), onCommandError: (command: string) => adapterErrors.inc({ command }) };
  const adapterPub = guardAdapterClient(redis('adapter-pub'), guardOpts);
  // On a cluster the sharded adapter SSUBSCRIBEs: the sub client must route by slot.
  const adapterSub = guardAdapterClient(redis('adapter-sub', { shardedSubscribers: config.redis.cluster }), guardOpts);
  const userSub = redis('user-sub');
  core.lifecycle.add(PHASE.redis, {
    name: 'realtime-redis',
    close: async () => {
      adapterPub.close();
      adapterSub.close();
      await Promise.all(handles.map((h) => h.close()));
    },
  });
  return { adapterPub: adapterPub.client, adapterSub: adapterSub.client, userSub };
}

/** The gateway's counters and gauges (registered once per process's Metrics). */
function gatewayMetrics(metrics: Metrics) {
  const m = {
    connects: metrics.counter('realtime_connects_total', 'Realtime connections opened on this node', ['transport']),
    disconnects: metrics.counter('realtime_disconnects_total', 'Realtime connections closed on this node', ['transport']),
    connected: metrics.gauge('realtime_connected_sockets', 'Open realtime connections on this node', ['transport']),
    delivered: metrics.counter('realtime_events_delivered_total', 'Events written to realtime connections', ['transport']),
    dropped: metrics.counter('realtime_events_dropped_total', 'Events dropped for slow realtime clients', ['transport', 'reason']),
    slowClosed: metrics.counter('realtime_slow_disconnects_total', 'Realtime connections closed for being too slow', ['transport']),
    authFailures: metrics.counter('realtime_auth_failures_total', 'Refused realtime handshakes', ['code']),
    subscribed: metrics.gauge('realtime_subscribed_users', 'User channels this node is subscribed to'),
    presenceChecks: metrics.counter('realtime_presence_checks_total', 'Grace-period presence checks by outcome', ['result']),
    invalid: metrics.counter('realtime_invalid_messages_total', 'Messages on user channels that were not event envelopes'),
    bridged: metrics.counter('realtime_ws_bridged_total', '/ws connections accepted with ?uid= alone from WS_TRUSTED_NETWORKS (migration bridge)'),
  };
  m.connected.set({ transport: 'socket.io' }, 0);
  m.connected.set({ transport: 'ws' }, 0);
  return m;
}
type GatewayMetrics = ReturnType<typeof gatewayMetrics>;

/** Presence from sockets: heartbeats while a user has one open anywhere, offline after the grace period. */
function createPresence(core: Core, p: Partial<PresenceTimings>, logger: Logger, m: GatewayMetrics): SocketPresence {
  const { config } = core.deps;
  const firestorePresence = core.firebase.firestore ? new FirestorePresence(core.firebase.firestore, { ttlSeconds: config.listenersTtlSeconds, instanceId: config.instanceId }) : undefined;
  return new SocketPresence({
    redis: core.deps.redis,
    key: keys.presenceSockets,
    logger,
    onSettled: (result) => m.presenceChecks.inc({ result }),
    timings: {
      heartbeatMs: p.heartbeatMs ?? config.heartbeatIntervalSeconds * 1000,
      connectionTtlMs: p.connectionTtlMs ?? config.listenersTtlSeconds * 1000,
      graceMs: p.graceMs ?? DEFAULT_PRESENCE_GRACE_MS,
    },
    sinks: {
      heartbeat: async (uid) => void (await core.deps.registry.heartbeat(uid, null)),
      offline: async (uid) => firestorePresence?.offline(uid),
    },
  });
}

/** The per-user connection manager both transports attach to (slow-client limits, metrics). */
function createManager(core: Core, o: { channels: UserChannels; presence: SocketPresence | undefined; limits: NonNullable<GatewayOptions['limits']>; logger: Logger; m: GatewayMetrics }): ConnectionManager {
  const { config } = core.deps;
  const { limits: l, m } = o;
  return new ConnectionManager({
    channels: o.channels,
    presence: o.presence,
    redis: core.deps.redis,
    historyKey: keys.eventHistory,
    historyMaxLen: config.eventHistory.maxLen,
    syncConcurrency: config.realtimeSyncConcurrency,
    firestore: core.firebase.firestore,
    database: core.firebase.database,
    limits: {
      maxConsecutiveDrops: l.maxConsecutiveDrops ?? DEFAULT_SINK_LIMITS.maxConsecutiveDrops,
      maxReplayBuffer: l.maxReplayBuffer ?? DEFAULT_SINK_LIMITS.maxReplayBuffer,
      recentIds: l.recentIds ?? Math.max(DEFAULT_SINK_LIMITS.recentIds, config.eventHistory.maxLen),
    },
    observer: {
      delivered: (t) => m.delivered.inc({ transport: t }),
      dropped: (t, reason) => m.dropped.inc({ transport: t, reason }),
      slowDisconnect: (t) => m.slowClosed.inc({ transport: t }),
    },
    logger: o.logger,
    onCount: (t, delta) => {
      m.connected.inc({ transport: t }, delta);
      (delta > 0 ? m.connects : m.disconnects).inc({ transport: t }, Math.abs(delta));
    },
  });
}

/** The raw /ws endpoint's options: the migration bridge (WS_TRUSTED_NETWORKS) and the chat watchers a socket holds. */
function rawWsOptions(
  core: Core,
  opts: GatewayOptions,
  o: Pick<RawWsOptions, 'server' | 'auth' | 'manager' | 'logger' | 'isClosing' | 'onAuthFailure'> & { socketPath: string; m: GatewayMetrics },
): RawWsOptions {
  const { config } = core.deps;
  const store = new WantedStore(core.deps.redis);
  return {
    server: o.server,
    path: opts.wsPath ?? '/ws',
    socketIoPath: o.socketPath,
    allowedOrigins: config.allowedOrigins,
    auth: o.auth,
    manager: o.manager,
    maxBufferedBytes: opts.limits?.wsMaxBufferedBytes ?? 4 * 1024 * 1024,
    pingIntervalMs: opts.wsPingIntervalMs ?? 25000,
    logger: o.logger,
    isClosing: o.isClosing,
    onAuthFailure: o.onAuthFailure,
    bridge: {
      networks: CidrSet.parse(config.wsTrustedNetworks),
      proxies: CidrSet.parse(config.trustedProxies),
      onBridged: (uid, address) => {
        o.m.bridged.inc();
        o.logger.warn({ uid, address, bridge: 'WS_TRUSTED_NETWORKS' }, 'realtime: /ws accepted with ?uid= alone from a trusted network (migration bridge; turn WS_TRUSTED_NETWORKS off once the client sends a token)');
      },
    },
    chatWatchers: { hold: store.hold.bind(store), release: store.release.bind(store), ttlMs: WS_CHAT_HOLD_TTL_MS },
  };
}
