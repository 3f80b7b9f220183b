import { PHASE } from '../core.js';
import { WantedStore } from '../listeners/wanted.js';
import { CidrSet } from '../shared/cidr.js';
import { FirestorePresence } from '../registry/legacyStore.js';
import type { RoleContext } from '../roles.js';
import { channelNames, keys } from '../shared/keys.js';
import { createRedis, type RedisHandle } from '../shared/redis.js';
import { registerAdminPage } from './admin.js';
import { guardAdapterClient } from './adapterGuard.js';
import { createAuthenticator } from './auth.js';
import { ConnectionManager } from './connections.js';
import { SocketPresence, type PresenceTimings } from './presence.js';
import { attachRawWs, type RawWsGateway } from './rawWs.js';
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
  const { config, logger: rootLogger, metrics } = core.deps;
  if (!app) return undefined;
  const logger = rootLogger.child({ component: 'realtime' });
  const socketPath = opts.socketPath ?? '/socket.io';

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

  const connects = metrics.counter('realtime_connects_total', 'Realtime connections opened on this node', ['transport']);
  const disconnects = metrics.counter('realtime_disconnects_total', 'Realtime connections closed on this node', ['transport']);
  const connected = metrics.gauge('realtime_connected_sockets', 'Open realtime connections on this node', ['transport']);
  const delivered = metrics.counter('realtime_events_delivered_total', 'Events written to realtime connections', ['transport']);
  const dropped = metrics.counter('realtime_events_dropped_total', 'Events dropped for slow realtime clients', ['transport', 'reason']);
  const slowClosed = metrics.counter('realtime_slow_disconnects_total', 'Realtime connections closed for being too slow', ['transport']);
  const authFailures = metrics.counter('realtime_auth_failures_total', 'Refused realtime handshakes', ['code']);
  const subscribed = metrics.gauge('realtime_subscribed_users', 'User channels this node is subscribed to');
  const presenceChecks = metrics.counter('realtime_presence_checks_total', 'Grace-period presence checks by outcome', ['result']);
  const invalid = metrics.counter('realtime_invalid_messages_total', 'Messages on user channels that were not event envelopes');
  const bridged = metrics.counter('realtime_ws_bridged_total', '/ws connections accepted with ?uid= alone from WS_TRUSTED_NETWORKS (migration bridge)');
  connected.set({ transport: 'socket.io' }, 0);
  connected.set({ transport: 'ws' }, 0);

  const names = channelNames(config.channelPrefix, config.chatChannelPrefix);
  const channels = new UserChannels({
    sub: userSub,
    channel: (uid: string) => names.user(uid),
    // Deltas travel on an internal channel unless LISTENERS_REDIS_DELTAS puts them on the user channel.
    ...(config.redisDeltas ? {} : { deltaChannel: keys.deltasChannel }),
    logger,
    onInvalid: () => invalid.inc(),
    onSubscribedCount: (n) => subscribed.set(n),
  });

  let presence: SocketPresence | undefined;
  if (opts.presence !== false) {
    const firestorePresence = core.firebase.firestore ? new FirestorePresence(core.firebase.firestore, { ttlSeconds: config.listenersTtlSeconds, instanceId: config.instanceId }) : undefined;
    const p = opts.presence ?? {};
    presence = new SocketPresence({
      redis: core.deps.redis,
      key: keys.presenceSockets,
      logger,
      onSettled: (result) => presenceChecks.inc({ result }),
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

  const l = opts.limits ?? {};
  const manager = new ConnectionManager({
    channels,
    presence,
    redis: core.deps.redis,
    historyKey: keys.eventHistory,
    historyMaxLen: config.eventHistory.maxLen,
    firestore: core.firebase.firestore,
    database: core.firebase.database,
    limits: {
      maxConsecutiveDrops: l.maxConsecutiveDrops ?? DEFAULT_SINK_LIMITS.maxConsecutiveDrops,
      maxReplayBuffer: l.maxReplayBuffer ?? DEFAULT_SINK_LIMITS.maxReplayBuffer,
      recentIds: l.recentIds ?? Math.max(DEFAULT_SINK_LIMITS.recentIds, config.eventHistory.maxLen),
    },
    observer: {
      delivered: (t) => delivered.inc({ transport: t }),
      dropped: (t, reason) => dropped.inc({ transport: t, reason }),
      slowDisconnect: (t) => slowClosed.inc({ transport: t }),
    },
    logger,
    onCount: (t, delta) => {
      connected.inc({ transport: t }, delta);
      (delta > 0 ? connects : disconnects).inc({ transport: t }, Math.abs(delta));
    },
  });

  let closing = false;
  const isClosing = () => closing;
  const auth = createAuthenticator({ auth: core.firebase.auth, serviceToken: config.serviceToken, checkRevoked: config.firebase.checkRevoked });
  const onAuthFailure = (code: string) => authFailures.inc({ code });
  const io = createSocketServer({
    server: app.server,
    path: socketPath,
    allowedOrigins: config.allowedOrigins,
    adapter: { pub: adapterPub.client, sub: adapterSub.client, sharded: config.redis.cluster },
    auth,
    serviceToken: config.serviceToken,
    manager,
    limits: { maxQueuedPackets: l.maxQueuedPackets ?? 1000, maxBufferedBytes: l.maxBufferedBytes ?? 4 * 1024 * 1024 },
    logger,
    isClosing,
    onAuthFailure,
  });
  const ws = attachRawWs({
    server: app.server,
    path: opts.wsPath ?? '/ws',
    socketIoPath: socketPath,
    allowedOrigins: config.allowedOrigins,
    auth,
    manager,
    maxBufferedBytes: l.wsMaxBufferedBytes ?? 4 * 1024 * 1024,
    pingIntervalMs: opts.wsPingIntervalMs ?? 25000,
    logger,
    isClosing,
    onAuthFailure,
    bridge: {
      networks: CidrSet.parse(config.wsTrustedNetworks),
      proxies: CidrSet.parse(config.trustedProxies),
      onBridged: (uid, address) => {
        bridged.inc();
        logger.warn({ uid, address, bridge: 'WS_TRUSTED_NETWORKS' }, 'realtime: /ws accepted with ?uid= alone from a trusted network (migration bridge; turn WS_TRUSTED_NETWORKS off once the client sends a token)');
      },
    },
    chatWatchers: (() => {
      const store = new WantedStore(core.deps.redis);
      return { hold: store.hold.bind(store), release: store.release.bind(store), ttlMs: WS_CHAT_HOLD_TTL_MS };
    })(),
  });
  if (config.wsTrustedNetworks.length > 0) logger.warn({ networks: config.wsTrustedNetworks, proxies: config.trustedProxies }, 'realtime: /ws migration bridge is ON (WS_TRUSTED_NETWORKS)');
  if (opts.adminPage !== false) registerAdminPage(app, { core, socketPath });

  let intake: Promise<void> | undefined;
  const closeIntake = () => {
    intake ??= (async () => {
      closing = true;
      // Local sockets only: a shutting-down node must not disconnect other nodes' sockets.
      io.local.disconnectSockets(true);
      await ws.close();
      await manager.closeAll();
      presence?.close();
      channels.close();
      io.engine.close();
      await Promise.resolve(io.of('/').adapter.close()).catch(() => undefined);
    })();
    return intake;
  };
  app.addHook('preClose', closeIntake);
  core.lifecycle.add(PHASE.intake, { name: 'realtime', close: closeIntake });
  logger.info({ socket_path: socketPath, ws_path: opts.wsPath ?? '/ws', sharded_adapter: config.redis.cluster, origins: config.allowedOrigins }, 'realtime gateway attached');
  return { io, ws, channels, presence, manager, closeIntake };
}
