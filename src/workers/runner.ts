/**
 * The BullMQ processor shared by every queue: finds the task kind by job name, validates the
 * payload, runs one attempt under a time limit and a cancellation watch, and turns the outcome into
 * registry updates and `task.progress_update` events (user tasks) or a logged result (maintenance).
 * A failure becomes terminal only when it cannot be retried or the attempts are used up.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { z } from 'zod';
import { TERMINAL_STATUSES } from '../registry/types.js';
import { keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { toErrorBody } from '../shared/errors.js';
import { cancelled, invalidInput, TaskError, timedOut, toTaskError } from './errors.js';
import type { ServiceDeps } from '../app/deps.js';
import type { TaskUpdateOutcome } from '../registry/types.js';
import { publishTaskEvent, TaskProgress, type ProgressHook } from './progress.js';
import { DEFAULT_COMPANY_ID, type TaskDeps, type TaskKind, type TaskRunContext } from './tasks/types.js';

/** Data of a user task's job (set by the TaskService). */
export interface TrackedJobData {
  task_id: string;
  user_id: string;
  company_id: string;
  max_duration: number;
  payload: unknown;
}

export interface RunnerOptions {
  deps: TaskDeps;
  kinds: ReadonlyMap<string, TaskKind<any, unknown>>;
  logger: Logger;
  workerId: string;
  /** How often a running user task looks for a cancel request (ms). */
  cancelPollMs?: number;
  /** After an abort (cancel / time limit), how long to wait for the processor to stop (ms). */
  settleGraceMs?: number;
  /** Called after each recorded progress step (observability; tests use it to pace a job). */
  onProgress?: ProgressHook;
}

/**
 * Ends a task as `cancelled`: one atomic registry update, then the terminal event unless the task had
 * already ended. The event's progress is the one the registry holds after the update (which never
 * decreases), so it is never below a progress published before it, whoever published that
 * (TaskProgress's own count only knows this process's events).
 */
export async function emitCancelled(
  svc: Pick<ServiceDeps, 'taskRegistry' | 'publisher' | 'logger' | 'metrics'>,
  t: { taskId: string; userId: string; floor: number; workerId?: string },
  data: Record<string, unknown>,
  error: unknown,
): Promise<TaskUpdateOutcome> {
  const { outcome, progress } = await svc.taskRegistry.updateTask({
    taskId: t.taskId,
    status: 'cancelled',
    progressPercent: t.floor,
    currentStep: 'cancelled',
    ...(t.workerId ? { workerId: t.workerId } : {}),
    error,
  });
  if (outcome === 'terminal') return outcome;
  if (outcome === 'missing') svc.logger.warn({ task_id: t.taskId }, 'task document missing (expired?); cancelled event published anyway');
  await publishTaskEvent(svc, t.userId, t.taskId, 'cancelled', Math.max(t.floor, progress), { step: 'cancelled', ...data });
  return outcome;
}

function zodMessage(err: z.ZodError): string {
  return err.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

export function createRunner(o: RunnerOptions) {
  const { deps, logger } = o;
  const svc = deps.service;
  const m = {
    completed: svc.metrics.counter('tasks_completed_total', 'Tasks completed by kind', ['kind']),
    failed: svc.metrics.counter('tasks_failed_total', 'Tasks failed for good, by kind and error code', ['kind', 'code']),
    retried: svc.metrics.counter('tasks_retried_total', 'Task attempts that failed and will be retried', ['kind']),
    cancelled: svc.metrics.counter('tasks_cancelled_total', 'Tasks stopped by cancellation', ['kind']),
    queueWait: svc.metrics.histogram('task_queue_wait_seconds', 'Time a job waited in its queue before a worker took it (first attempt)', ['kind'], [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300]),
    duration: svc.metrics.histogram('task_duration_seconds', 'Duration of one task attempt', ['kind', 'outcome'], [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800]),
  };

  /** One attempt: payload check, time limit, abort on cancel; waits (bounded) for the processor to stop. */
  async function attempt(kind: TaskKind<any, unknown>, payload: unknown, base: Omit<TaskRunContext, 'signal' | 'checkpoint' | 'progress'>, progress: TaskRunContext['progress'] | undefined, maxDuration: number, jobSignal?: AbortSignal): Promise<unknown> {
    const ac = new AbortController();
    const abort = (e: TaskError) => {
      if (!ac.signal.aborted) ac.abort(e);
    };
    const timer = setTimeout(() => abort(timedOut(maxDuration)), maxDuration * 1000);
    const onJobAbort = () => abort(cancelled('the worker cancelled the job'));
    jobSignal?.addEventListener('abort', onJobAbort, { once: true });
    let poll: NodeJS.Timeout | undefined;
    if (base.userId !== undefined) {
      poll = setInterval(() => {
        svc.redis.get(keys.taskCancel(base.taskId)).then(
          (v) => v !== null && abort(cancelled()),
          (err: Error) => logger.warn({ err: err.message, task_id: base.taskId }, 'cancel check failed'),
        );
      }, o.cancelPollMs ?? 500);
    }
    const checkpoint = () => {
      if (ac.signal.aborted) throw ac.signal.reason;
    };
    const ctx: TaskRunContext = {
      ...base,
      signal: ac.signal,
      checkpoint,
      progress: async (pct, step, data) => {
        checkpoint();
        if (progress) await progress(pct, step, data);
      },
    };
    const aborted = new Promise<never>((_, reject) => ac.signal.addEventListener('abort', () => reject(ac.signal.reason), { once: true }));
    aborted.catch(() => undefined);
    let work: Promise<unknown> | undefined;
    try {
      const parsed = kind.payload.safeParse(payload);
      if (!parsed.success) throw invalidInput(`invalid ${kind.name} input: ${zodMessage(parsed.error)}`);
      work = kind.process(parsed.data, ctx);
      return await Promise.race([work, aborted]);
    } catch (err) {
      if (ac.signal.aborted && work) {
        // The processor sees the abort at its next checkpoint; keep the job until it has stopped.
        let t: NodeJS.Timeout | undefined;
        await Promise.race([work.catch(() => undefined), new Promise((r) => (t = setTimeout(r, o.settleGraceMs ?? 5000)))]);
        if (t) clearTimeout(t);
      }
      throw err;
    } finally {
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      jobSignal?.removeEventListener('abort', onJobAbort);
    }
  }

  async function runTracked(job: Job, kind: TaskKind<any, unknown>, jobSignal?: AbortSignal): Promise<unknown> {
    const d = job.data as TrackedJobData;
    const tid = d.task_id;
    const log = logger.child({ task_id: tid, kind: kind.name, job_id: job.id });
    const [doc, cancelFlag] = await Promise.all([svc.taskRegistry.getTaskRegistry(tid), svc.redis.get(keys.taskCancel(tid))]);
    if (doc && TERMINAL_STATUSES.has(doc.task_info.status)) {
      log.info({ status: doc.task_info.status }, 'task already ended; job skipped');
      throw new UnrecoverableError(`task already ${doc.task_info.status}`);
    }
    const reporter = new TaskProgress({ deps: svc, taskId: tid, userId: d.user_id, floor: doc?.progress.progress_percent ?? 0, workerId: o.workerId });
    const maxAttempts = job.opts.attempts ?? 1;
    const n = job.attemptsMade + 1;
    const started = Date.now();
    const end = (outcome: string) => m.duration.observe({ kind: kind.name, outcome }, (Date.now() - started) / 1000);
    try {
      if (cancelFlag !== null) throw cancelled();
      if ((await reporter.emit('started', null, 'started', { attempt: n, max_attempts: maxAttempts, worker_id: o.workerId })) === 'terminal') throw cancelled('task ended before it started');
      const progress: TaskRunContext['progress'] = async (pct, step, data) => {
        if ((await reporter.emit('processing', pct, step, data)) === 'terminal') throw cancelled('task ended while running');
        await o.onProgress?.({ taskId: tid, status: 'processing', progress: reporter.progress, step });
      };
      const result = await attempt(kind, d.payload, { taskId: tid, userId: d.user_id, companyId: d.company_id || DEFAULT_COMPANY_ID, attempt: n, deps, logger: log }, progress, d.max_duration, jobSignal);
      await reporter.emit('completed', 100, 'completed', { result }, { result });
      m.completed.inc({ kind: kind.name });
      end('completed');
      return result;
    } catch (err) {
      const te = toTaskError(err);
      if (te.code === 'CANCELLED') {
        await emitCancelled(svc, { taskId: tid, userId: d.user_id, floor: reporter.progress, workerId: o.workerId }, { reason: te.message }, toErrorBody(te));
        m.cancelled.inc({ kind: kind.name });
        end('cancelled');
        log.info({ reason: te.message }, 'task cancelled');
        throw new UnrecoverableError(`CANCELLED: ${te.message}`);
      }
      if (!te.retryable || n >= maxAttempts) {
        await reporter.emit('failed', null, 'failed', { error: toErrorBody(te), attempts: n }, { error: toErrorBody(te) });
        m.failed.inc({ kind: kind.name, code: te.code });
        end('failed');
        log.warn({ code: te.code, err: te.message, attempt: n }, 'task failed');
        throw new UnrecoverableError(`${te.code}: ${te.message}`);
      }
      m.retried.inc({ kind: kind.name });
      end('retried');
      log.warn({ code: te.code, err: te.message, attempt: n, max_attempts: maxAttempts }, 'task attempt failed; will retry');
      const outcome = await reporter.emit('processing', null, 'retry_scheduled', { attempt: n, max_attempts: maxAttempts, error: toErrorBody(te) });
      if (outcome === 'terminal') throw new UnrecoverableError('task ended while retrying');
      throw te;
    }
  }

  async function runScheduled(job: Job, kind: TaskKind<any, unknown>, jobSignal?: AbortSignal): Promise<unknown> {
    const tick = String(job.id);
    const log = logger.child({ scheduled: kind.name, job_id: tick });
    if (job.attemptsMade === 0) {
      const k = keys.schedulerRuns(`${kind.name}:${tick}`);
      const runs = await svc.redis.incr(k);
      await svc.redis.expire(k, 3600);
      if (runs > 1) log.warn({ runs }, 'scheduled tick is running more than once (recovered after a crash?)');
    }
    const started = Date.now();
    try {
      const result = await attempt(kind, (job.data as { payload?: unknown } | undefined)?.payload ?? {}, { taskId: tick, userId: undefined, companyId: DEFAULT_COMPANY_ID, attempt: job.attemptsMade + 1, deps, logger: log }, undefined, kind.options.maxDurationSeconds, jobSignal);
      m.completed.inc({ kind: kind.name });
      m.duration.observe({ kind: kind.name, outcome: 'completed' }, (Date.now() - started) / 1000);
      log.info({ result }, 'scheduled job done');
      return result;
    } catch (err) {
      const te = toTaskError(err);
      m.failed.inc({ kind: kind.name, code: te.code });
      m.duration.observe({ kind: kind.name, outcome: 'failed' }, (Date.now() - started) / 1000);
      log.warn({ code: te.code, err: te.message }, 'scheduled job failed');
      throw te.retryable ? te : new UnrecoverableError(`${te.code}: ${te.message}`);
    }
  }

  const processor = async (job: Job, _token?: string, signal?: AbortSignal): Promise<unknown> => {
    const kind = o.kinds.get(job.name);
    if (!kind) throw new UnrecoverableError(`unknown task kind "${job.name}"`);
    if (job.attemptsMade === 0 && job.processedOn) m.queueWait.observe({ kind: kind.name }, Math.max(0, job.processedOn - job.timestamp - (job.delay ?? 0)) / 1000);
    return kind.tracked ? runTracked(job, kind, signal) : runScheduled(job, kind, signal);
  };

  /** A job that failed without its processor deciding (stalled too often): end the task as failed. */
  const onFailed = async (job: Job | undefined, err: Error): Promise<void> => {
    const kind = job ? o.kinds.get(job.name) : undefined;
    if (!job || !kind?.tracked || !/stalled/i.test(err.message)) return;
    const d = job.data as TrackedJobData;
    const te = new TaskError('INTERNAL', `worker lost the job: ${err.message}`, false);
    const doc = await svc.taskRegistry.getTaskRegistry(d.task_id);
    const reporter = new TaskProgress({ deps: svc, taskId: d.task_id, userId: d.user_id, floor: doc?.progress.progress_percent ?? 0 });
    await reporter.emit('failed', null, 'failed', { error: toErrorBody(te) }, { error: toErrorBody(te) });
    m.failed.inc({ kind: kind.name, code: te.code });
  };

  return { processor, onFailed };
}
