/**
 * Server half of bench/rpc.ts, run in its own process so the load generator does not share its CPU.
 * argv[2] = mode:
 *   rpc           the real service: POST /rpc → auth → envelope → idempotency → REGISTRY.register_user
 *                 (unified store + Firestore presence on the emulator, which runs in a process of its own)
 *   rpc-nopresence the same, with the Firestore presence write replaced by a no-op (our own share)
 *   bare          a bare Fastify route running the same registry Redis commands (no auth, no
 *                 validation, no idempotency, no presence)
 *   bare-idemp    the bare route plus the two idempotency commands (SET NX, then the store script)
 * Prints the listening port on stdout.
 */
import Fastify from 'fastify';
import { buildApi } from '../src/api/buildApi.js';
import { loadConfig } from '../src/config/load.js';
import { createCore } from '../src/core.js';
import { RegistryRouter } from '../src/registry/router.js';
import { UnifiedRegistryStore } from '../src/registry/unifiedStore.js';
import { Idempotency } from '../src/api/rpc/idempotency.js';
import { createFirebase } from '../src/shared/firebase.js';
import { silentLogger } from '../src/shared/logger.js';
import { createRedis } from '../src/shared/redis.js';

const mode = process.argv[2] ?? 'rpc';
const redisPort = process.argv[3] ?? '6379';
/** The Firestore emulator's host:port (bench/firestore-emulator.ts, its own process), for the rpc modes. */
const firestoreHost = process.argv[4] ?? '';

async function main() {
  const res = await loadConfig({
    LISTENERS_REDIS_PORT: redisPort,
    LISTENERS_SERVICE_TOKEN: 'bench-token-0123456789',
    UNIFIED_REGISTRY_ENABLED: 'true',
    FIREBASE_PROJECT_ID: 'demo-bench',
    LOG_LEVEL: 'silent',
  });
  if (!res.ok) throw new Error(res.problems.join('; '));
  const config = res.config;
  const logger = silentLogger();
  let app;
  if (mode.startsWith('rpc')) {
    if (!firestoreHost) throw new Error('the rpc modes need the Firestore emulator host as argv[4]');
    process.env.FIRESTORE_EMULATOR_HOST = firestoreHost;
    const firebase = createFirebase(config.firebase);
    const core = createCore({ config, logger, firebase });
    // rpc-nopresence: the same deps with a registry whose presence writes are no-ops (a copy, not an assignment).
    const d = core.deps;
    const deps =
      mode === 'rpc-nopresence'
        ? {
            ...d,
            registry: new RegistryRouter({
              unified: new UnifiedRegistryStore(core.redis.client, { heartbeatTtlSeconds: config.listenersTtlSeconds }),
              legacy: new UnifiedRegistryStore(core.redis.client, { heartbeatTtlSeconds: config.listenersTtlSeconds }),
              presence: { online: async () => {}, heartbeat: async () => {}, offline: async () => {} },
              decider: d.decider,
              logger,
              metrics: d.metrics,
              debug: false,
            }),
          }
        : d;
    app = buildApi(deps);
  } else {
    const redis = createRedis({ settings: config.redis, name: 'bench-bare', logger, autoPipelining: true });
    const store = new UnifiedRegistryStore(redis.client, { heartbeatTtlSeconds: 90 });
    const idemp = new Idempotency(redis.client, 900);
    app = Fastify();
    app.post('/bare', async (req) => {
      const b = req.body as { args: [string, string]; idempotency_key: string };
      if (mode === 'bare-idemp') {
        const o = await idemp.begin('bare', b.idempotency_key, 'f', Date.now() + 15000);
        const data = await store.registerUser(b.args[0], b.args[1], null);
        const text = JSON.stringify({ ok: true, data });
        if (o.kind === 'run') await o.complete(text, undefined);
        return text;
      }
      return { ok: true, data: await store.registerUser(b.args[0], b.args[1], null) };
    });
  }
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  process.stdout.write(`PORT ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
}

process.on('SIGINT', () => process.exit(0));

main().catch((err) => {
  process.stderr.write(String(err?.stack ?? err));
  process.exit(1);
});
