/**
 * bench/fanout server process, one of:
 *  - gateway: the real gateway (createCore + buildApi + attachGateway), socket.io and /ws;
 *  - ws:      a bare `ws` server with the same delivery model (one SUBSCRIBE per connected uid, raw
 *             text frames);
 *  - sio:     a bare socket.io server with the Redis adapter (@socket.io/redis-adapter, as the
 *             gateway uses it): each socket joins room `user:{uid}` (uid from the handshake's auth),
 *             one SUBSCRIBE per connected uid, and each published event goes out with
 *             `io.to('user:{uid}').emit('event', envelope)`, the way a plain socket.io app does it.
 * Driven by the parent over IPC: {cmd:'mem'} → memory after GC, {cmd:'attaching'}, {cmd:'stop'}.
 * Usage (by bench/fanout.ts): tsx --expose-gc bench/fanout-server.ts <gateway|ws|sio> <redisHost> <redisPort> [firestoreHost]
 */
import { createServer, type Server } from 'node:http';
import v8 from 'node:v8';
import { Redis } from 'ioredis';
import { WebSocketServer, type WebSocket } from 'ws';
import { createAdapter } from '@socket.io/redis-adapter';
import { Server as SocketIoServer } from 'socket.io';

const [kind, redisHost, redisPort, firestoreHost] = process.argv.slice(2) as [string, string, string, string | undefined];
export const BENCH_TOKEN = 'bench-service-token-0123456789abcdef';

const send = (m: unknown) => process.send?.(m);
const gc = () => (globalThis as { gc?: () => void }).gc?.();

/** Listens on a free loopback port; resolves with it. */
async function listenLocal(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return typeof addr === 'object' && addr ? addr.port : 0;
}

async function startGateway(): Promise<{ port: number; attaching(): number; stop(): Promise<void> }> {
  if (firestoreHost) process.env.FIRESTORE_EMULATOR_HOST = firestoreHost;
  // No GCE metadata probing from google-auth-library on a bench machine (it only logs warnings).
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const { loadConfig } = await import('../src/config/load.js');
  const { createCore, PHASE } = await import('../src/core.js');
  const { buildApi } = await import('../src/api/buildApi.js');
  const { attachGateway } = await import('../src/realtime/index.js');
  const { createFirebase } = await import('../src/shared/firebase.js');
  const { createLogger } = await import('../src/shared/logger.js');
  const res = await loadConfig({
    LISTENERS_SERVICE_TOKEN: BENCH_TOKEN,
    LOG_LEVEL: 'warn',
    FIREBASE_PROJECT_ID: 'demo-bench',
    FIRESTORE_EMULATOR_HOST: firestoreHost,
    LISTENERS_REDIS_HOST: redisHost,
    LISTENERS_REDIS_PORT: redisPort,
    LISTENERS_ENABLED: 'false',
    PORT: '0',
    INSTANCE_ID: 'bench-gateway',
  });
  if (!res.ok) throw new Error(res.problems.join('; '));
  const config = res.config;
  const logger = createLogger({ level: 'warn' });
  const core = createCore({ config, logger, firebase: createFirebase(config.firebase) });
  const app = buildApi(core.deps);
  // Presence off: it would write each user's Firestore presence document; delivery is what is measured.
  const gw = await attachGateway({ core, app }, { presence: false });
  core.lifecycle.add(PHASE.intake, { name: 'http', close: () => app.close() });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  return { port: typeof addr === 'object' && addr ? addr.port : 0, attaching: () => gw?.manager.attaching ?? 0, stop: () => core.lifecycle.close(10000) };
}

async function startBareWs(): Promise<{ port: number; attaching(): number; stop(): Promise<void> }> {
  const sub = new Redis({ host: redisHost, port: Number(redisPort), connectionName: 'bench:bare-ws-sub' });
  sub.on('error', () => undefined);
  const byUid = new Map<string, Set<WebSocket>>();
  sub.on('message', (channel: string, message: string) => {
    const set = byUid.get(channel.slice('user:'.length));
    if (set) for (const ws of set) ws.send(message);
  });
  const server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false });
  wss.on('connection', (ws, req) => {
    const uid = new URL(req.url ?? '/', 'http://x').searchParams.get('uid') ?? '';
    let set = byUid.get(uid);
    if (!set) {
      set = new Set();
      byUid.set(uid, set);
      void sub.subscribe(`user:${uid}`);
    }
    set.add(ws);
    ws.on('close', () => {
      set.delete(ws);
      if (set.size === 0) {
        byUid.delete(uid);
        void sub.unsubscribe(`user:${uid}`);
      }
    });
  });
  return {
    port: await listenLocal(server),
    attaching: () => 0,
    stop: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((r) => server.close(() => r()));
      sub.disconnect();
    },
  };
}

async function startBareSocketIo(): Promise<{ port: number; attaching(): number; stop(): Promise<void> }> {
  const opts = { host: redisHost, port: Number(redisPort) };
  const adapterPub = new Redis({ ...opts, connectionName: 'bench:bare-sio-adapter-pub' });
  const adapterSub = new Redis({ ...opts, connectionName: 'bench:bare-sio-adapter-sub' });
  const sub = new Redis({ ...opts, connectionName: 'bench:bare-sio-sub' });
  for (const c of [adapterPub, adapterSub, sub]) c.on('error', () => undefined);
  const server = createServer((_req, res) => res.writeHead(404).end());
  const io = new SocketIoServer(server, { serveClient: false });
  io.adapter(createAdapter(adapterPub, adapterSub));
  const members = new Map<string, number>();
  sub.on('message', (channel: string, message: string) => {
    io.to(channel).emit('event', JSON.parse(message));
  });
  io.on('connection', (socket) => {
    const auth = (socket.handshake.auth ?? {}) as { uid?: unknown };
    const uid = typeof auth.uid === 'string' ? auth.uid : '';
    const room = `user:${uid}`;
    void socket.join(room);
    const n = members.get(room) ?? 0;
    members.set(room, n + 1);
    if (n === 0) void sub.subscribe(room);
    socket.on('disconnect', () => {
      const left = (members.get(room) ?? 1) - 1;
      if (left > 0) members.set(room, left);
      else {
        members.delete(room);
        void sub.unsubscribe(room);
      }
    });
  });
  return {
    port: await listenLocal(server),
    attaching: () => 0,
    stop: async () => {
      io.disconnectSockets(true);
      await new Promise<void>((r) => {
        void io.close(() => r());
      });
      for (const c of [adapterPub, adapterSub, sub]) c.disconnect();
    },
  };
}

const starters: Record<string, () => Promise<{ port: number; attaching(): number; stop(): Promise<void> }>> = { gateway: startGateway, ws: startBareWs, sio: startBareSocketIo };
const starter = Object.hasOwn(starters, kind) ? starters[kind] : undefined;
if (!starter) throw new Error(`unknown server kind ${kind}`);
const started = await starter();
process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'mem') {
    gc();
    gc();
    const u = process.memoryUsage();
    // FANOUT_HEAP_DIR: also write a heap snapshot (to find what a connection holds).
    const dir = process.env.FANOUT_HEAP_DIR;
    if (dir) v8.writeHeapSnapshot(`${dir}/fanout-${kind}-${Date.now()}.heapsnapshot`);
    send({ mem: { rss: u.rss, heapUsed: u.heapUsed, heapTotal: u.heapTotal, external: u.external, arrayBuffers: u.arrayBuffers } });
  } else if (m.cmd === 'attaching') {
    send({ attaching: started.attaching() });
  } else if (m.cmd === 'stop') {
    void started.stop().finally(() => process.exit(0));
  }
});
send({ ready: true, port: started.port });
