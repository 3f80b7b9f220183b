/**
 * The `beat` role: declares the job schedulers of schedules.ts on the maintenance queue
 * (`upsertJobScheduler`, idempotent, safe from any number of beat processes) and removes the ones
 * no longer declared. Workers run the jobs; the next tick's job is produced as each one finishes.
 * The declaration is refreshed periodically so a flushed or edited queue heals by itself.
 */
import type { Queue } from 'bullmq';
import { PHASE } from '../app/phases.js';
import type { RoleContext } from '../roles.js';
import type { Logger } from '../shared/logger.js';
import { taskKinds } from '../workers/tasks/index.js';
import { SCHEDULES, type Schedule } from './schedules.js';

export interface SchedulerOptions {
  /** The declared schedules (default SCHEDULES); tests pass short periods. */
  schedules?: readonly Schedule[];
  /** How often the declaration is refreshed (ms, default 300000; 0 = only at start). */
  redeclareMs?: number;
}

export interface SchedulerHandle {
  declare(): Promise<{ upserted: string[]; removed: string[] }>;
  close(): Promise<void>;
}

export async function declareSchedules(queue: Queue, schedules: readonly Schedule[], logger: Logger): Promise<{ upserted: string[]; removed: string[] }> {
  for (const s of schedules) {
    const kind = taskKinds.get(s.id);
    if (!kind || kind.tracked || kind.queue !== queue.name) throw new Error(`schedule ${s.id} does not name a maintenance task kind on queue ${queue.name}`);
    await queue.upsertJobScheduler(s.id, { every: s.everyMs }, { name: kind.name, data: { payload: {} }, opts: { attempts: kind.options.attempts, backoff: { type: 'exponential', delay: kind.options.backoffMs }, removeOnComplete: { count: 100 }, removeOnFail: { count: 500 } } });
  }
  const declared = new Set(schedules.map((s) => s.id));
  const removed: string[] = [];
  for (const existing of await queue.getJobSchedulers(0, -1)) {
    const id = existing.key;
    if (declared.has(id) || !(await queue.removeJobScheduler(id))) continue;
    removed.push(id);
    // Its next run may already be waiting (not only delayed): remove it too, unless it is running.
    if (existing.next !== undefined) await queue.remove(`repeat:${id}:${existing.next}`).catch(() => 0);
  }
  if (removed.length > 0) logger.info({ removed }, 'removed job schedulers that are no longer declared');
  return { upserted: schedules.map((s) => s.id), removed };
}

export async function startScheduler(ctx: RoleContext, opts: SchedulerOptions = {}): Promise<SchedulerHandle> {
  if (!ctx.core.tasks) throw new Error('startScheduler: the core was built without the queues (createCore tasks: true)');
  const { queues } = ctx.core.tasks;
  const logger = ctx.core.deps.logger.child({ component: 'scheduler' });
  const schedules = opts.schedules ?? SCHEDULES;
  const queue = queues.get('maintenance');
  const declare = () => declareSchedules(queue, schedules, logger);
  const r = await declare();
  logger.info({ schedules: schedules.map((s) => `${s.id}/${s.everyMs}ms`), removed: r.removed }, 'job schedulers declared');
  const period = opts.redeclareMs ?? 300_000;
  const timer = period > 0 ? setInterval(() => void declare().catch((err: Error) => logger.warn({ err: err.message }, 'could not refresh job schedulers')), period) : undefined;
  timer?.unref();
  let closed = false;
  const close = () => {
    if (!closed) {
      closed = true;
      if (timer) clearInterval(timer);
    }
    return Promise.resolve();
  };
  ctx.core.lifecycle.add(PHASE.listeners, { name: 'scheduler', close });
  return { declare, close };
}
