/**
 * A worker process for the crash and drain tests: real config, core and BullMQ workers, with a short
 * lock so a SIGKILLed job is taken back quickly. When WORKERS_CHILD_GATE names a Redis key, each
 * progress step waits until that key exists (the test decides when the job may go on). Prints
 * `ready`, one JSON line per progress step, and `draining` on SIGTERM, then exits 0 once closed.
 */
import { loadConfig } from '../../src/config/load.js';
import { createCore } from '../../src/core.js';
import { createFirebase } from '../../src/shared/firebase.js';
import { createLogger } from '../../src/shared/logger.js';
import { startWorkers } from '../../src/workers/index.js';

const env = JSON.parse(process.env.WORKERS_CHILD_ENV ?? '{}') as Record<string, string>;
const gateKey = process.env.WORKERS_CHILD_GATE || undefined;
const lockMs = Number(process.env.WORKERS_CHILD_LOCK_MS || 1000);
/** Set: no progress lines on stdout (long runs, e.g. the chaos test, only need `ready` and the log). */
const quiet = process.env.WORKERS_CHILD_QUIET === '1';

const res = await loadConfig(env);
if (!res.ok) {
  process.stderr.write(`config: ${res.problems.join('; ')}\n`);
  process.exit(2);
}
const config = res.config;
const logger = createLogger({ level: config.logLevel, destination: process.stderr });
const core = createCore({ config, logger, firebase: createFirebase(config.firebase), tasks: true });
const redis = core.deps.redis;

await startWorkers(
  { core },
  {
    lockDurationMs: lockMs,
    stalledIntervalMs: lockMs,
    cancelPollMs: 100,
    onProgress: async (e) => {
      if (!quiet) process.stdout.write(`${JSON.stringify({ progress: e })}\n`);
      if (!gateKey) return;
      while ((await redis.get(gateKey)) === null) await new Promise((r) => setTimeout(r, 20));
    },
  },
);
process.stdout.write('ready\n');

process.once('SIGTERM', () => {
  process.stdout.write('draining\n');
  core.lifecycle.close(20000).then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
