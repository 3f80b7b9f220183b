import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { bearerOf } from '../shared/tokens.js';
import { chatMode, type WatchSpec } from '../listeners/ids.js';
import { clientAddress, type CidrSet } from '../shared/cidr.js';
import { isDelta, type EventEnvelope } from '../shared/events.js';
import type { Logger } from '../shared/logger.js';
import { GatewayAuthError, validUid, type Authenticator, type Principal } from './auth.js';
import { connectionId, type ConnectionManager, type OpenConnection } from './connections.js';
import { originAllowed } from './origins.js';
import type { ConnectionTransport } from './sink.js';

export interface RawWsOptions {
  server: HttpServer;
  path: string;
  /** The socket.io path: its upgrades are left to engine.io. */
  socketIoPath: string;
  allowedOrigins: readonly string[];
  auth: Authenticator;
  manager: ConnectionManager;
  /** Bytes buffered in the WebSocket above which events are dropped for it. */
  maxBufferedBytes: number;
  pingIntervalMs: number;
  logger: Logger;
  isClosing: () => boolean;
  onAuthFailure: (code: string) => void;
  /**
   * Migration bridge (CONTRACT §13.6): a client whose address (TCP peer, or X-Forwarded-For from a
   * trusted proxy) is in `networks` may authenticate with `?uid=` alone. Off when `networks` is empty.
   */
  bridge?: { networks: CidrSet; proxies: CidrSet; onBridged: (uid: string, address: string) => void };
  /**
   * Chat watcher requests held while a /ws with `space_code` + `thread_key` is open (CONTRACT §13.6),
   * renewed every `renewMs` and lapsing after `ttlMs` if this node dies.
   */
  chatWatchers?: {
    hold(uid: string, holder: string, spec: WatchSpec, ttlMs: number): Promise<unknown>;
    release(uid: string, holder: string, spec: WatchSpec): Promise<unknown>;
    ttlMs: number;
  };
}

/** Chat parameters of the original's consumers: `space_code`, `thread_key`, optional `mode` (`auto` = `chats`). */
const CHAT_PART_RE = /^[A-Za-z0-9_.@+=-]{1,128}$/;
function chatSpec(q: URLSearchParams): WatchSpec | undefined | string {
  const space = q.get('space_code');
  const thread = q.get('thread_key');
  if (!space && !thread) return undefined;
  if (!space || !thread) return 'space_code and thread_key go together';
  if (!CHAT_PART_RE.test(space) || !CHAT_PART_RE.test(thread)) return 'space_code and thread_key may contain only letters, digits and _ . @ + = - (1-128 characters)';
  const mode = q.get('mode');
  if (mode !== null && !['auto', 'chats', 'job_chats'].includes(mode)) return 'mode must be auto, chats or job_chats';
  return { kind: 'chat', space, thread, mode: chatMode(mode) };
}

export interface RawWsGateway {
  /** Closes every /ws client (1001) and stops accepting upgrades. Idempotent. */
  close(): Promise<void>;
}

/** Errors of a socket still being upgraded (its owner answers or destroys it). Module-level: a closure here would retain the upgrade's scope. */
const ignoreError = (): void => undefined;

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ ok: false, data: null, error: { code, message } });
  const reason = status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : status === 404 ? 'Not Found' : status === 503 ? 'Service Unavailable' : 'Bad Request';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/** A /ws connection's transport (a class: its methods live once on the prototype, not per connection). */
class WsTransport implements ConnectionTransport {
  readonly kind = 'ws' as const;

  constructor(
    private readonly ws: WebSocket,
    private readonly maxBufferedBytes: number,
    private readonly uid: string,
    private readonly logger: Logger,
    private readonly deltas: boolean,
  ) {}

  /** Original-style consumers treat every notif.* as a full sync: deltas only for `?deltas=1`. */
  accepts(env: EventEnvelope): boolean {
    return this.deltas || !isDelta(env.type);
  }

  overLimit(): boolean {
    return this.ws.bufferedAmount > this.maxBufferedBytes;
  }

  send(_env: EventEnvelope, raw: string): void {
    this.ws.send(raw);
  }

  disconnect(reason: string): void {
    this.logger.warn({ uid: this.uid, reason }, 'realtime: closing /ws connection');
    this.ws.close(1013, reason.slice(0, 120));
  }
}

/** A text frame's payload as a string (ws hands a Buffer with the default binaryType). */
function textOf(data: Buffer | ArrayBuffer | Buffer[]): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return (Buffer.isBuffer(data) ? data : Buffer.from(data)).toString('utf8');
}

/**
 * Raw WebSocket endpoint (CONTRACT §8) for clients that do not speak socket.io: `?token=<Firebase
 * ID token>`, or the service token (`Authorization: Bearer` or `?service_token=`) plus `?uid=`.
 * Refusals answer the upgrade with HTTP 401/403 and a JSON body. Text frames carry the event
 * envelopes (notif.add/update/remove only with `?deltas=1`); `?last_event_id=` replays missed events
 * first. As the original's consumers use it (CONTRACT §13.6): `space_code` + `thread_key` (+ `mode`)
 * keep that thread's chat watcher running while the socket is open, and from WS_TRUSTED_NETWORKS a
 * bare `?uid=` is accepted (the migration bridge; logged and counted). A client frame
 * `{"type":"replay","last_event_id":"…"}` replays on demand (answered `{"type":"replay.result",…}`).
 */
export function attachRawWs(o: RawWsOptions): RawWsGateway {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024, perMessageDeflate: false });
  const answered = new WeakSet<WebSocket>();
  // One 'pong' listener shared by every socket of this endpoint (no closure per socket).
  function markAnswered(this: WebSocket): void {
    answered.add(this);
  }
  const g: RawWsState = { o, wss, conns: new Set(), answered, markAnswered };
  const sweep = startLivenessSweep(g);
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => upgrade(g, req, socket, head);
  o.server.on('upgrade', onUpgrade);
  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        o.server.off('upgrade', onUpgrade);
        clearInterval(sweep);
        for (const ws of wss.clients) ws.close(1001, 'server shutting down');
        await Promise.all([...g.conns].map((c) => c.close()));
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      })();
      return closing;
    },
  };
}

/** The /ws endpoint's shared state: its server, its open connections, the clients that answered the last ping. */
interface RawWsState {
  o: RawWsOptions;
  wss: WebSocketServer;
  conns: Set<OpenConnection>;
  answered: WeakSet<WebSocket>;
  markAnswered: (this: WebSocket) => void;
}

/** Ticks per ping interval: each tick visits one slice of the clients. */
const SWEEP_SLICES = 100;

/**
 * One liveness sweep for every /ws client (not a timer and a closure per socket), in slices: each
 * client belongs to one of SWEEP_SLICES slices (round robin as it connects) and a tick every
 * pingInterval / SWEEP_SLICES visits one slice, so every client is still checked once per interval
 * but 10,000 pings never go out in the same tick (in the fan-out bench, one sweep of all of them
 * held the event loop long enough to show in the p99 of delivery). A client that did not answer
 * the previous ping of its slice is terminated.
 */
function startLivenessSweep(g: RawWsState): NodeJS.Timeout {
  const sliceOf = new WeakMap<WebSocket, number>();
  let assigned = 0;
  let tick = 0;
  const sweep = setInterval(
    () => {
      const slice = tick++ % SWEEP_SLICES;
      for (const ws of g.wss.clients) {
        let mine = sliceOf.get(ws);
        if (mine === undefined) sliceOf.set(ws, (mine = assigned++ % SWEEP_SLICES));
        if (mine !== slice) continue;
        if (!g.answered.has(ws)) {
          ws.terminate();
          continue;
        }
        g.answered.delete(ws);
        ws.ping();
      }
    },
    Math.max(1, Math.floor(g.o.pingIntervalMs / SWEEP_SLICES)),
  );
  sweep.unref();
  return sweep;
}

/** Upgrade step: path, shutdown, origin, chat parameters and credentials checked, then the socket is accepted or refused. */
function upgrade(g: RawWsState, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const { o } = g;
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === o.socketIoPath || url.pathname.startsWith(`${o.socketIoPath}/`)) return;
  socket.on('error', ignoreError);
  if (url.pathname !== o.path) return refuse(socket, 404, 'NOT_FOUND', 'no WebSocket endpoint here');
  if (o.isClosing()) return refuse(socket, 503, 'UNAVAILABLE', 'shutting down');
  if (!originAllowed(req, o.allowedOrigins)) {
    o.onAuthFailure('ORIGIN_NOT_ALLOWED');
    return refuse(socket, 403, 'FORBIDDEN', 'origin not allowed');
  }
  const q = url.searchParams;
  const chat = chatSpec(q);
  if (typeof chat === 'string') return refuse(socket, 400, 'INVALID_REQUEST', chat);
  const creds = {
    token: q.get('token') ?? undefined,
    service_token: bearerOf(req.headers.authorization) ?? q.get('service_token') ?? undefined,
    uid: q.get('uid') ?? undefined,
  };
  const deltas = q.get('deltas') === '1' || q.get('deltas') === 'true';
  authenticateWs(o, req, creds).then(
    (p) => {
      if (o.isClosing() || socket.destroyed) return refuse(socket, 503, 'UNAVAILABLE', 'shutting down');
      const lastEventId = q.get('last_event_id') ?? undefined;
      g.wss.handleUpgrade(req, socket, head, (ws) => {
        // ws handles the socket's errors from here; our listener would keep this whole upgrade
        // (request, URL, head) reachable for the connection's lifetime.
        socket.off('error', ignoreError);
        openConnection(g, ws, p.uid, lastEventId, deltas, chat);
      });
    },
    (err: unknown) => {
      const e = err instanceof GatewayAuthError ? err : new GatewayAuthError('UNAUTHORIZED', 'authentication failed');
      o.onAuthFailure(e.code);
      o.logger.info({ code: e.code, reason: e.message, address: req.socket.remoteAddress }, 'realtime: /ws refused');
      refuse(socket, e.httpStatus, e.code, e.message);
    },
  );
}

/** Credentials first; a bare `?uid=` from a trusted network passes through the bridge. */
async function authenticateWs(o: RawWsOptions, req: IncomingMessage, creds: { token?: string; service_token?: string; uid?: string }): Promise<Principal> {
  const bridge = o.bridge;
  if (bridge && bridge.networks.size > 0 && creds.token === undefined && creds.service_token === undefined && creds.uid !== undefined) {
    const address = clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], bridge.proxies);
    if (address !== undefined && bridge.networks.has(address)) {
      if (!validUid(creds.uid)) throw new GatewayAuthError('INVALID_REQUEST', 'uid must be 1-128 characters of letters, digits and _ - . : @');
      bridge.onBridged(creds.uid, address);
      return { uid: creds.uid, kind: 'bridge' };
    }
  }
  return o.auth.authenticate(creds);
}

/** Connection step: attached to its user's event stream, the chat watcher held while open, client frames answered. */
function openConnection(g: RawWsState, ws: WebSocket, uid: string, lastEventId: string | undefined, deltas: boolean, chat: WatchSpec | undefined): void {
  const { o } = g;
  g.answered.add(ws);
  ws.on('pong', g.markAnswered);
  const attached = o.manager.attach(uid, new WsTransport(ws, o.maxBufferedBytes, uid, o.logger, deltas), lastEventId);
  const chatHold = chat && o.chatWatchers ? holdChatWatcher(o, o.chatWatchers, uid, chat) : undefined;
  attached.then(
    (c) => {
      g.conns.add(c);
      if (ws.readyState !== ws.OPEN) void c.close();
      else if (c.initialReplay && lastEventId) ws.send(JSON.stringify({ type: 'replay.result', ...c.initialReplay, last_event_id: lastEventId }));
    },
    (err: Error) => {
      o.logger.warn({ uid, err: err.message }, 'realtime: could not attach /ws connection');
      ws.close(1011, 'could not subscribe');
    },
  );
  ws.on('error', (err) => o.logger.debug({ uid, err: err.message }, 'realtime: /ws error'));
  ws.on('close', () => {
    chatHold?.release();
    attached.then(
      (c) => {
        g.conns.delete(c);
        return c.close();
      },
      () => undefined,
    );
  });
  ws.on('message', (data, isBinary) => answerFrame(o, ws, uid, attached, data, isBinary));
}

/**
 * The thread's chat watcher runs while this socket is open: one request per socket, renewed while it
 * is open, released on close (and lapsing by itself if this node dies).
 */
function holdChatWatcher(o: RawWsOptions, watchers: NonNullable<RawWsOptions['chatWatchers']>, uid: string, chat: WatchSpec): { release(): void } {
  const holder = connectionId('ws');
  let lastHold: Promise<unknown> = Promise.resolve();
  const hold = () => {
    lastHold = watchers.hold(uid, holder, chat, watchers.ttlMs).catch((err: Error) => o.logger.warn({ uid, err: err.message }, 'realtime: could not request the /ws chat watcher'));
  };
  hold();
  const renew = setInterval(hold, Math.max(1000, Math.floor(watchers.ttlMs / 3)));
  renew.unref();
  return {
    release() {
      clearInterval(renew);
      // After the last hold landed, so a hold still in flight cannot outlive the release.
      void lastHold.then(() => watchers.release(uid, holder, chat)).catch((err: Error) => o.logger.warn({ uid, err: err.message }, 'realtime: could not release the /ws chat watcher'));
    },
  };
}

/** A client frame: only `{"type":"replay","last_event_id":"…"}` is answered; anything else is ignored. */
function answerFrame(o: RawWsOptions, ws: WebSocket, uid: string, attached: Promise<OpenConnection>, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
  if (isBinary) return;
  let msg: { type?: unknown; last_event_id?: unknown };
  try {
    msg = JSON.parse(textOf(data)) as typeof msg;
  } catch {
    return;
  }
  if (msg?.type !== 'replay' || typeof msg.last_event_id !== 'string') return;
  const last = msg.last_event_id;
  attached
    .then((c) => c.replay(last))
    .then(
      (r) => ws.send(JSON.stringify({ type: 'replay.result', ...r, last_event_id: last })),
      (err: Error) => o.logger.warn({ uid, err: err.message }, 'realtime: /ws replay failed'),
    );
}
