/**
 * Background tasks (CONTRACT §9). The queues, `deps.tasks` (TASK.*), the queue Redis health check
 * and the eviction-policy warning are built once by `createCore` (src/workers/runtime.ts, reached
 * through `core.tasks`; the composition root mounts the queue dashboard, src/api/dashboard.ts, on
 * those queues). Here:
 * - `startWorkers(ctx)` (worker/all): one BullMQ Worker per queue in WORKER_QUEUES running the
 *   shared processor (runner.ts); SIGTERM drains them in lifecycle PHASE.workers (active jobs
 *   finish; a job still running when the grace ends keeps its lock until it expires, then another
 *   worker takes it back through stalled-job recovery).
 */
import { Worker } from 'bullmq';
import type { QueueName } from '../config/schema.js';
import { PHASE } from '../app/phases.js';
import type { RoleContext } from '../roles.js';
import { createRedis } from '../shared/redis.js';
import type { ProgressHook } from './progress.js';
import { createRunner } from './runner.js';
import { taskKinds } from './tasks/index.js';

export interface StartWorkersOptions {
  /** Queues to consume (default config.workerQueues). */
  queues?: readonly QueueName[];
  /** Jobs in parallel per queue (default config.workerConcurrency). */
  concurrency?: number;
  /** Lock held on an active job, renewed while it runs; a dead worker's job is taken back after it (default 30000). */
  lockDurationMs?: number;
  /** How often workers look for stalled jobs (default 30000). */
  stalledIntervalMs?: number;
  /** Times a job may stall before it fails (default 2). */
  maxStalledCount?: number;
  cancelPollMs?: number;
  settleGraceMs?: number;
  /** Called after each recorded progress step; while it runs, the processor stops at its next report. */
  onProgress?: ProgressHook;
}

export interface WorkersHandle {
  workers: Worker[];
  close(): Promise<void>;
}

export type { TasksRuntime } from './runtime.js';

export async function startWorkers(ctx: RoleContext, opts: StartWorkersOptions = {}): Promise<WorkersHandle> {
  const { deps, lifecycle, tasks } = ctx.core;
  if (!tasks) throw new Error('startWorkers: the core was built without the queues (createCore tasks: true)');
  const { queues } = tasks;
  const { config } = deps;
  const logger = deps.logger.child({ component: 'workers' });
  // Workers need maxRetriesPerRequest null (blocking commands); BullMQ duplicates it for blocking reads.
  const connection = createRedis({ settings: config.queueRedis, name: `pinnokio:worker:${config.instanceId}`, logger, maxRetriesPerRequest: null });
  const runner = createRunner({
    deps: { service: deps, queueRedis: queues.connection.client },
    kinds: taskKinds,
    logger,
    workerId: config.instanceId,
    ...(opts.cancelPollMs !== undefined ? { cancelPollMs: opts.cancelPollMs } : {}),
    ...(opts.settleGraceMs !== undefined ? { settleGraceMs: opts.settleGraceMs } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  const workers = (opts.queues ?? config.workerQueues).map((name) => {
    const w = new Worker(name, runner.processor, {
      connection: connection.client,
      prefix: config.queuePrefix,
      concurrency: opts.concurrency ?? config.workerConcurrency,
      lockDuration: opts.lockDurationMs ?? 30000,
      stalledInterval: opts.stalledIntervalMs ?? 30000,
      maxStalledCount: opts.maxStalledCount ?? 2,
      name: config.instanceId,
    });
    w.on('error', (err: Error) => logger.warn({ queue: name, err: err.message }, 'worker error'));
    w.on('failed', (job, err) => {
      runner.onFailed(job, err).catch((e: Error) => logger.warn({ err: e.message }, 'could not record a lost job'));
    });
    w.on('stalled', (jobId: string) => {
      deps.metrics.counter('tasks_stalled_total', 'Jobs found stalled (worker died) and taken back', ['queue']).inc({ queue: name });
      logger.warn({ queue: name, job_id: jobId }, 'stalled job taken back');
    });
    return w;
  });
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      logger.info({ queues: workers.map((w) => w.name) }, 'draining workers');
      await Promise.allSettled(workers.map((w) => w.close()));
      await connection.close();
    })();
    return closing;
  };
  lifecycle.add(PHASE.workers, { name: 'workers', close });
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  logger.info({ queues: workers.map((w) => w.name), concurrency: opts.concurrency ?? config.workerConcurrency }, 'workers started');
  return { workers, close };
}
