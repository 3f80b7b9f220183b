import type { Server as HttpServer } from 'node:http';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { Server, type Socket } from 'socket.io';
import type { ClientToServerEvents, EventEnvelope, ServerToClientEvents } from '../shared/events.js';
import type { Logger } from '../shared/logger.js';
import type { RedisClient } from '../shared/redis.js';
import { hasAdminCookie } from '../shared/tokens.js';
import { GatewayAuthError, type Authenticator, type Principal } from './auth.js';
import type { ConnectionManager } from './connections.js';
import { originAllowed } from './origins.js';
import type { ConnectionTransport } from './sink.js';

export interface SocketData {
  uid: string;
  kind: Principal['kind'];
  lastEventId: string | undefined;
}

export type GatewayServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
type GatewaySocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

export interface SocketLimits {
  /** Engine.io packets waiting to be written; above this, events for that socket are dropped. */
  maxQueuedPackets: number;
  /** Bytes buffered in the underlying WebSocket; above this, events are dropped. */
  maxBufferedBytes: number;
}

export interface SocketIoOptions {
  server: HttpServer;
  path: string;
  allowedOrigins: readonly string[];
  /** Clients for the adapter, already wrapped by guardAdapterClient (see adapterGuard.ts). */
  adapter: { pub: RedisClient; sub: RedisClient; sharded: boolean };
  auth: Authenticator;
  serviceToken: string | undefined;
  manager: ConnectionManager;
  limits: SocketLimits;
  logger: Logger;
  isClosing: () => boolean;
  onAuthFailure: (code: string) => void;
}

/** The engine's outbound queue (not part of socket.io's typed surface; read, never written). */
interface EngineInternals {
  writeBuffer?: unknown[];
  transport?: { socket?: { bufferedAmount?: number } };
}

/**
 * A socket.io connection's transport. A class, not an object of closures: one per connection, so
 * its methods live once on the prototype (the fan-out bench counts the heap per connection).
 */
class SocketTransport implements ConnectionTransport {
  readonly kind = 'socket.io' as const;

  constructor(
    private readonly socket: GatewaySocket,
    private readonly limits: SocketLimits,
    private readonly logger: Logger,
  ) {}

  overLimit(): boolean {
    const engine = this.socket.conn as unknown as EngineInternals;
    return (engine.writeBuffer?.length ?? 0) > this.limits.maxQueuedPackets || (engine.transport?.socket?.bufferedAmount ?? 0) > this.limits.maxBufferedBytes;
  }

  send(env: EventEnvelope): void {
    this.socket.emit('event', env);
  }

  disconnect(reason: string): void {
    this.logger.warn({ uid: this.socket.data.uid, socket_id: this.socket.id, reason }, 'realtime: disconnecting socket');
    this.socket.disconnect(true);
  }
}

/**
 * socket.io on the API's HTTP server with the Redis adapter (sharded on a cluster) for cross-node
 * room operations. Delivery of user events does not go through the adapter: each node subscribes
 * to the channels of its own users (UserChannels) and writes to its local sockets.
 */
export function createSocketServer(o: SocketIoOptions): GatewayServer {
  const cors = o.allowedOrigins.length > 0 ? { origin: o.allowedOrigins.includes('*') ? true : [...o.allowedOrigins], credentials: true } : undefined;
  const io: GatewayServer = new Server(o.server, {
    path: o.path,
    serveClient: true,
    ...(cors ? { cors } : {}),
    // The raw /ws endpoint shares the server's `upgrade` event: engine.io must not destroy it.
    destroyUpgrade: false,
    maxHttpBufferSize: 64 * 1024,
    allowRequest: (req, cb) => {
      if (o.isClosing()) return cb('shutting down', false);
      if (!originAllowed(req, o.allowedOrigins)) {
        o.onAuthFailure('ORIGIN_NOT_ALLOWED');
        return cb('origin not allowed', false);
      }
      cb(null, true);
    },
  });
  // Sharded pub/sub on a cluster (each channel lives on its slot's primary; the sub client must be
  // created with shardedSubscribers). 'static': one channel per namespace, no per-room channels.
  io.adapter(
    o.adapter.sharded
      ? createShardedAdapter(o.adapter.pub, o.adapter.sub, { subscriptionMode: 'static' })
      : createAdapter(o.adapter.pub, o.adapter.sub),
  );

  io.use((socket, next) => authenticateSocket(o, socket, next));
  io.on('connection', (socket) => connectSocket(o, socket));
  return io;
}

/** Handshake step: who the socket is (token, service token or the admin cookie), or a refusal with the contract's code. */
function authenticateSocket(o: SocketIoOptions, socket: GatewaySocket, next: (err?: Error) => void): void {
  const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
  const cookieService = auth.token === undefined && auth.service_token === undefined && hasAdminCookie(socket.handshake.headers.cookie, o.serviceToken);
  const creds = cookieService ? { service_token: o.serviceToken, uid: auth.uid } : auth;
  o.auth.authenticate(creds).then(
    (p) => {
      socket.data.uid = p.uid;
      socket.data.kind = p.kind;
      socket.data.lastEventId = typeof auth.last_event_id === 'string' && auth.last_event_id ? auth.last_event_id : undefined;
      next();
    },
    (err: unknown) => {
      const code = err instanceof GatewayAuthError ? err.code : 'UNAUTHORIZED';
      o.onAuthFailure(code);
      o.logger.info({ code, reason: (err as Error).message, address: socket.handshake.address }, 'realtime: socket refused');
      const e = new Error(err instanceof GatewayAuthError ? err.message : 'authentication failed') as Error & { data?: unknown };
      e.data = { code };
      next(e);
    },
  );
}

/** Connection step: joins the user's room, attaches the socket to its user's event stream, answers `replay`. */
function connectSocket(o: SocketIoOptions, socket: GatewaySocket): void {
  const { uid, lastEventId } = socket.data;
  void socket.join(`user:${uid}`);
  let gone = false;
  const attached = o.manager.attach(uid, new SocketTransport(socket, o.limits, o.logger), lastEventId);
  attached.then(
    (c) => {
      if (gone) void c.close();
      else if (c.initialReplay && lastEventId) socket.emit('replayed', { ...c.initialReplay, last_event_id: lastEventId });
    },
    (err: Error) => {
      o.logger.warn({ uid, err: err.message }, 'realtime: could not attach socket; disconnecting');
      socket.disconnect(true);
    },
  );
  socket.on('disconnect', () => {
    gone = true;
    attached.then((c) => c.close(), () => undefined);
  });
  socket.on('replay', (last, ack) => {
    const answer = (r: { replayed: number; complete: boolean }) => (typeof ack === 'function' ? ack(r) : undefined);
    if (typeof last !== 'string' || !last) return answer({ replayed: 0, complete: false });
    attached
      .then((c) => c.replay(last))
      .then(answer, (err: Error) => {
        o.logger.warn({ uid, err: err.message }, 'realtime: replay failed');
        answer({ replayed: 0, complete: false });
      });
  });
}
