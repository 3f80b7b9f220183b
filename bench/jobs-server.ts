/**
 * Server half of bench/jobs.ts, one role per process so the load generator, the API and the workers
 * do not share an event loop. The configuration comes as JSON in BENCH_JOBS_ENV (the bench's env map).
 *   api                 createCore (with the queues) + buildApi, listening on a free loopback port
 *   worker <n>          createCore (with the queues) + startWorkers on the `computation` queue, concurrency n
 *   bare-worker <n> <q> a bare BullMQ Worker on queue q with a no-op processor, concurrency n
 * Prints `READY <port>` (0 for workers) on stdout; SIGINT/SIGTERM close it cleanly (a profiled
 * process writes its CPU profile on that exit).
 */
import { Worker } from 'bullmq';
import { buildApi } from '../src/api/buildApi.js';
import { loadConfig } from '../src/config/load.js';
import { createCore } from '../src/core.js';
import { createFirebase } from '../src/shared/firebase.js';
import { silentLogger } from '../src/shared/logger.js';
import { createRedis } from '../src/shared/redis.js';
import { startWorkers } from '../src/workers/index.js';

const [role, nArg, queueName] = process.argv.slice(2) as [string, string | undefined, string | undefined];

async function main(): Promise<() => Promise<void>> {
  const env = JSON.parse(process.env.BENCH_JOBS_ENV ?? '{}') as Record<string, string>;
  if (env.FIRESTORE_EMULATOR_HOST) process.env.FIRESTORE_EMULATOR_HOST = env.FIRESTORE_EMULATOR_HOST;
  const cfg = await loadConfig(env);
  if (!cfg.ok) throw new Error(cfg.problems.join('; '));
  const config = cfg.config;
  const logger = silentLogger();
  const concurrency = Number(nArg ?? 1);
  if (role === 'bare-worker') {
    if (!queueName) throw new Error('bare-worker needs a queue name');
    const conn = createRedis({ settings: config.queueRedis, name: 'bench-bare-worker', logger, maxRetriesPerRequest: null });
    const w = new Worker(queueName, async () => null, { connection: conn.client, prefix: config.queuePrefix, concurrency });
    await w.waitUntilReady();
    process.stdout.write('READY 0\n');
    return async () => {
      await w.close();
      await conn.close();
    };
  }
  const core = createCore({ config, logger, firebase: createFirebase(config.firebase), tasks: true });
  if (role === 'api') {
    const app = buildApi(core.deps);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address();
    process.stdout.write(`READY ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
    return async () => {
      await app.close();
      await core.lifecycle.close(10000);
    };
  }
  if (role === 'worker') {
    await startWorkers({ core }, { queues: ['computation'], concurrency });
    process.stdout.write('READY 0\n');
    return () => core.lifecycle.close(10000);
  }
  throw new Error(`unknown role ${role}`);
}

let stopping = false;
main().then(
  (stop) => {
    const onSignal = () => {
      if (stopping) return;
      stopping = true;
      stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  },
  (err: unknown) => {
    process.stderr.write(`jobs-server ${role}: ${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  },
);
