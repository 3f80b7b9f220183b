/**
 * `npm run dev`: the whole platform (role `all`) on embedded defaults, for a newcomer's machine.
 * - Redis: the local redis-server on 127.0.0.1:6379 (started here if the binary exists and nothing
 *   listens; otherwise a one-line hint).
 * - Firestore: the in-process emulator when no Firebase credentials are configured; a Realtime
 *   Database server (firebase-server) and a minimal Auth emulator endpoint likewise, so unsigned
 *   dev ID tokens work for sockets.
 * - LISTENERS_SERVICE_TOKEN defaults to `dev-token`; the unified registry is on.
 * Everything set here can be overridden by the environment.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { join } from 'node:path';
import { freePort, portOpen, waitForPort } from './lib/net.js';

const env = process.env;
const children: ChildProcess[] = [];
const stops: Array<() => void | Promise<void>> = [];

async function ensureRedis(): Promise<void> {
  const host = env.LISTENERS_REDIS_HOST ?? '127.0.0.1';
  const port = Number(env.LISTENERS_REDIS_PORT ?? 6379);
  if (await portOpen(port, host)) {
    console.log(`[dev] using Redis at ${host}:${port}`);
    return;
  }
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    console.error('[dev] no Redis on 127.0.0.1:6379 and no redis-server binary: install it with `sudo apt-get install -y redis-server` (or `brew install redis`), or set LISTENERS_REDIS_HOST/PORT.');
    process.exit(1);
  }
  const dir = join(process.cwd(), '.dev', 'redis');
  mkdirSync(dir, { recursive: true });
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  children.push(child);
  await waitForPort(port, 10000);
  console.log(`[dev] started redis-server on 127.0.0.1:${port}`);
}

async function ensureFirebase(): Promise<void> {
  const hasCredentials = Boolean(env.FIREBASE_ADMIN_JSON || env.GOOGLE_APPLICATION_CREDENTIALS || env.FIREBASE_ADMIN_SECRET_NAME);
  if (hasCredentials || env.FIRESTORE_EMULATOR_HOST) return;
  const project = env.FIREBASE_PROJECT_ID ?? 'demo-pinnokio';
  env.FIREBASE_PROJECT_ID = project;

  const { FirestoreServer } = await import('@firestore-emulator/server');
  const fsPort = await freePort();
  const fs = new FirestoreServer();
  await fs.start(fsPort);
  stops.push(() => fs.stop());
  env.FIRESTORE_EMULATOR_HOST = `127.0.0.1:${fsPort}`;
  console.log(`[dev] Firestore emulator (in-process) on ${env.FIRESTORE_EMULATOR_HOST}`);

  if (!env.FIREBASE_DATABASE_EMULATOR_HOST && !env.FIREBASE_DATABASE_URL) {
    const { default: FirebaseServer } = await import('firebase-server');
    const dbPort = await freePort();
    const server = new FirebaseServer({ port: dbPort, address: '127.0.0.1' }, project);
    (server as { setAuthSecret?: (s: string) => void }).setAuthSecret?.('owner');
    stops.push(() => server.close());
    env.FIREBASE_DATABASE_EMULATOR_HOST = `127.0.0.1:${dbPort}`;
    console.log(`[dev] Realtime Database server on ${env.FIREBASE_DATABASE_EMULATOR_HOST} (ns ${project})`);
  }

  if (!env.FIREBASE_AUTH_EMULATOR_HOST) {
    // firebase-admin accepts unsigned ID tokens with an Auth emulator, then looks the user up: answer it.
    const authPort = await freePort();
    const auth = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (!req.url?.includes('accounts:lookup')) {
          res.writeHead(404).end();
          return;
        }
        const ids = ((JSON.parse(body || '{}') as { localId?: string[] }).localId ?? []).slice(0, 10);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ users: ids.map((localId) => ({ localId, disabled: false })) }));
      });
    });
    await new Promise<void>((r) => auth.listen(authPort, '127.0.0.1', r));
    stops.push(() => void auth.close());
    env.FIREBASE_AUTH_EMULATOR_HOST = `127.0.0.1:${authPort}`;
    console.log(`[dev] Auth emulator lookup endpoint on ${env.FIREBASE_AUTH_EMULATOR_HOST} (unsigned dev ID tokens accepted)`);
  }
}

async function main(): Promise<void> {
  env.NODE_ENV ??= 'development';
  // Local runs have no Google metadata server: do not let google-auth probe for one.
  env.METADATA_SERVER_DETECTION ??= 'none';
  env.CONTAINER_TYPE ??= 'all';
  env.LISTENERS_SERVICE_TOKEN ??= 'dev-token';
  env.UNIFIED_REGISTRY_ENABLED ??= 'true';
  await ensureRedis();
  await ensureFirebase();
  const { start } = await import('../src/main.js');
  const started = await start(env);
  console.log(`[dev] platform up on http://127.0.0.1:${started.port}  (service token: ${env.LISTENERS_SERVICE_TOKEN === 'dev-token' ? 'dev-token' : '(from env)'})`);
  console.log(`[dev] try: curl -s localhost:${started.port}/rpc -H 'authorization: Bearer dev-token' -H 'content-type: application/json' -d '{"api_version":"v1","method":"REGISTRY.register_user","args":["alice","s1"],"idempotency_key":"k1"}'`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('[dev] stopping');
    await started.close();
    for (const s of stops) await s();
    for (const c of children) c.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  console.error('[dev] failed:', err);
  for (const c of children) c.kill('SIGTERM');
  process.exit(1);
});
