import type { FastifyInstance } from 'fastify';
import { io as ioClient, type Socket as ClientSocket } from 'socket.io-client';
import { WebSocket } from 'ws';
import type { Env } from '../../src/config/load.js';
import { buildApi } from '../../src/api/buildApi.js';
import { mountDashboard } from '../../src/api/dashboard.js';
import { createCore, PHASE, type Core } from '../../src/core.js';
import { attachGateway, type Gateway, type GatewayOptions } from '../../src/realtime/index.js';
import type { EventEnvelope } from '../../src/shared/events.js';
import { createFirebase } from '../../src/shared/firebase.js';
import { silentLogger } from '../../src/shared/logger.js';
import type { ListenerOptions } from '../../src/listeners/index.js';
import { startWorkers } from '../../src/workers/index.js';
import { TEST_TOKEN, testConfig, uniq, waitFor } from './env.js';

export interface GatewayNode {
  core: Core;
  app: FastifyInstance;
  gateway: Gateway;
  url: string;
  port: number;
  rpc(method: string, body?: Record<string, unknown>): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/**
 * One gateway node as main.ts builds it (the queues + the queue dashboard when `tasks`/`workers`, the listener watchers
 * built but not started when `listeners` (the test starts them), attachGateway before listen, startWorkers when `workers`), listening on 127.0.0.1:<free port>. All nodes of a test share the test Redis and the
 * Firestore emulator whose host is in FIRESTORE_EMULATOR_HOST.
 */
export async function startGatewayNode(o: { env?: Env; gateway?: GatewayOptions; tasks?: boolean; workers?: boolean; listeners?: Partial<ListenerOptions> } = {}): Promise<GatewayNode> {
  const config = await testConfig({ INSTANCE_ID: uniq('gw'), ...o.env });
  const firebase = createFirebase(config.firebase);
  const core = createCore({
    config,
    logger: silentLogger(),
    firebase,
    masterSwitchPollMs: 50,
    tasks: Boolean(o.tasks || o.workers),
    ...(o.listeners ? { listeners: 'watchers' as const, listenerOptions: o.listeners } : {}),
  });
  const app = buildApi(core.deps);
  const ctx = { core, app };
  if (core.tasks) await mountDashboard(app, core.tasks.queues.all(), config.serviceToken);
  const gateway = await attachGateway(ctx, o.gateway);
  if (!gateway) throw new Error('gateway not attached');
  if (o.workers) await startWorkers(ctx);
  core.lifecycle.add(PHASE.intake, { name: 'http', close: () => app.close() });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    core,
    app,
    gateway,
    port,
    url: `http://127.0.0.1:${port}`,
    async rpc(method, body = {}) {
      const res = await app.inject({
        method: 'POST',
        url: '/rpc',
        headers: { authorization: `Bearer ${TEST_TOKEN}` },
        payload: { api_version: 'v1', method, idempotency_key: uniq('k'), ...body },
      });
      return { status: res.statusCode, body: res.json() };
    },
    close: () => core.lifecycle.close(8000),
  };
}

/** A socket.io client that records every envelope it receives. */
export interface RecordingSocket {
  socket: ClientSocket;
  events: EventEnvelope[];
  replayed: Array<{ replayed: number; complete: boolean; last_event_id: string }>;
  of(type: string): EventEnvelope[];
  next(pred: (e: EventEnvelope) => boolean, timeoutMs?: number): Promise<EventEnvelope>;
  close(): void;
}

export function recordSocket(url: string, auth: Record<string, unknown>, opts: { extraHeaders?: Record<string, string> } = {}): RecordingSocket {
  const socket = ioClient(url, { transports: ['websocket'], auth, reconnection: false, forceNew: true, ...(opts.extraHeaders ? { extraHeaders: opts.extraHeaders } : {}) });
  const events: EventEnvelope[] = [];
  const replayed: RecordingSocket['replayed'] = [];
  socket.on('event', (e: EventEnvelope) => events.push(e));
  socket.on('replayed', (r: RecordingSocket['replayed'][number]) => replayed.push(r));
  return {
    socket,
    events,
    replayed,
    of: (type) => events.filter((e) => e.type === type),
    next: (pred, timeoutMs = 10000) => waitFor(() => events.find(pred), timeoutMs, 'socket event'),
    close: () => void socket.close(),
  };
}

/** Resolves when connected; rejects with the server's connect_error (message + data.code). */
export function connected(s: ClientSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    if (s.connected) return resolve();
    s.once('connect', () => resolve());
    s.once('connect_error', (err: Error & { data?: { code?: string } }) => reject(err));
  });
}

/** Resolves with the refusal of a socket that must not connect. */
export function refused(s: ClientSocket): Promise<Error & { data?: { code?: string } }> {
  return new Promise((resolve, reject) => {
    s.once('connect', () => reject(new Error('connected but should have been refused')));
    s.once('connect_error', (err: Error & { data?: { code?: string } }) => resolve(err));
  });
}

/** A raw /ws client recording text frames. */
export interface RecordingWs {
  ws: WebSocket;
  frames: Array<Record<string, unknown>>;
  opened: Promise<void>;
  close(): void;
}

export function recordWs(url: string, query: Record<string, string>, headers: Record<string, string> = {}): RecordingWs {
  const u = new URL('/ws', url.replace(/^http/, 'ws'));
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  const ws = new WebSocket(u, { headers });
  const frames: Array<Record<string, unknown>> = [];
  ws.on('message', (d) => frames.push(JSON.parse((d as Buffer).toString('utf8')) as Record<string, unknown>));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
  opened.catch(() => undefined);
  return { ws, frames, opened, close: () => ws.close() };
}

/**
 * Clients a test file opened, closed together at its end: `track(c)` returns `c` and remembers it;
 * `closeAll()` closes every one (afterAll).
 */
export function clientTracker(): { track: <T extends { close(): void }>(c: T) => T; closeAll: () => void } {
  const open: Array<{ close(): void }> = [];
  return {
    track: (c) => {
      open.push(c);
      return c;
    },
    closeAll: () => {
      for (const c of open.splice(0)) c.close();
    },
  };
}
