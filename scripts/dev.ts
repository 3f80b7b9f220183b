/**
 * `npm run dev`: the whole platform (role `all`) on embedded defaults, for a newcomer's machine.
 * - Binds 127.0.0.1 unless HOST says otherwise.
 * - Redis: its own `redis-server` on a free port with its files under `.dev/redis` (git-ignored),
 *   stopped with the script; a Redis configured in the environment (LISTENERS_REDIS_HOST/PORT,
 *   USE_LOCAL_REDIS or REDIS_SECRET_NAME) is used instead. It never writes into a shared 6379 by accident.
 * - Firestore: the in-process emulator when no Firebase credentials are configured; a Realtime
 *   Database server (firebase-server) and a minimal Auth emulator endpoint likewise, so unsigned
 *   dev ID tokens work for sockets.
 * - LISTENERS_SERVICE_TOKEN: a random token per run unless set; printed once with the URLs.
 * - Logs: human-readable (pino-pretty) when stdout is a terminal, JSON lines otherwise.
 * - SIGINT/SIGTERM (npm forwards them) stop everything it started; so does its parent dying.
 * Everything set here can be overridden by the environment.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { join } from 'node:path';
import { freePort, waitForPort } from './lib/net.js';

const env = process.env;
const children: ChildProcess[] = [];
const stops: Array<() => void | Promise<void>> = [];

/** Kills a child and waits for it to be gone (bounded: SIGKILL after 5 s). */
async function killChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(t);
}

async function ensureRedis(): Promise<void> {
  const configured = ['LISTENERS_REDIS_HOST', 'LISTENERS_REDIS_PORT', 'REDIS_SECRET_NAME'].some((k) => env[k]?.trim()) || env.USE_LOCAL_REDIS === 'true';
  if (configured) {
    console.log(`[dev] using the configured Redis (${env.LISTENERS_REDIS_HOST ?? '127.0.0.1'}:${env.LISTENERS_REDIS_PORT ?? 6379})`);
    return;
  }
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    console.error('[dev] no redis-server binary: install it with `sudo apt-get install -y redis-server` (or `brew install redis`), or point LISTENERS_REDIS_HOST/PORT at a Redis.');
    process.exit(1);
  }
  const dir = join(process.cwd(), '.dev', 'redis');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  children.push(child);
  await waitForPort(port, 10000);
  env.LISTENERS_REDIS_HOST = '127.0.0.1';
  env.LISTENERS_REDIS_PORT = String(port);
  console.log(`[dev] started redis-server on 127.0.0.1:${port} (pid ${child.pid}, files in .dev/redis)`);
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
  env.HOST ??= '127.0.0.1';
  env.PORT ??= '8090';
  env.LISTENERS_SERVICE_TOKEN ??= randomBytes(18).toString('base64url');
  env.UNIFIED_REGISTRY_ENABLED ??= 'true';

  let stopping = false;
  const stop = async (why: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    console.log(`[dev] stopping (${why})`);
    try {
      await started?.close();
      for (const s of stops) await s();
    } finally {
      await Promise.all(children.map(killChild));
      process.exit(code);
    }
  };
  // eslint-disable-next-line prefer-const -- assigned once after start-up, but read earlier by the stop handler above
  let started: { close(): Promise<void> } | undefined;
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGHUP', () => void stop('SIGHUP'));
  // npm forwards SIGINT/SIGTERM; if npm itself is killed outright we are re-parented: stop too.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void stop('parent process gone');
  }, 1000).unref();

  await ensureRedis();
  await ensureFirebase();
  const { start } = await import('../src/main.js');
  let logDestination;
  if (process.stdout.isTTY) {
    const { default: pretty } = await import('pino-pretty');
    logDestination = pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,version' });
  }
  const s = await start(env, { logDestination });
  started = s;
  if (stopping) return void (await s.close());
  const host = env.HOST === '0.0.0.0' || env.HOST === '::' ? '127.0.0.1' : env.HOST;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${s.port}`;
  const token = env.LISTENERS_SERVICE_TOKEN;
  console.log(`[dev] dev token: ${token}`);
  console.log(`[dev] ready  API ${base}/rpc  console ${base}/admin?token=${encodeURIComponent(token)}  queues ${base}/admin/queues  docs ${base}/docs`);
  console.log(`[dev] try: curl -s ${base}/rpc -H 'authorization: Bearer ${token}' -H 'content-type: application/json' -d '{"api_version":"v1","method":"REGISTRY.register_user","args":["alice","s1"],"idempotency_key":"k1"}'`);
}

main().catch(async (err: unknown) => {
  console.error('[dev] failed:', err);
  await Promise.all(children.map(killChild));
  process.exit(1);
});
