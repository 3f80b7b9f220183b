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
import { endTask, publishTaskEvent, TaskProgress, type ProgressHook, type TaskEventStatus } from './progress.js';
import { DEFAULT_COMPANY_ID, type AnyTaskKind, type TaskDeps, type TaskRunContext } from './tasks/types.js';

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
  kinds: ReadonlyMap<string, AnyTaskKind>;
  logger: Logger;
  workerId: string;
  /** How often a running user task looks for a cancel request (ms). */
  cancelPollMs?: number;
  /** After an abort (cancel / time limit), how long to wait for the processor to stop (ms). */
  settleGraceMs?: number;
  /**
   * Called after each recorded progress step (observability; tests use it to pace a job). Reports
   * are pipelined one deep, so a hook still running holds the processor at its next report.
   */
  onProgress?: ProgressHook;
}

/**
 * Ends a task as `cancelled`: one atomic registry update, then the terminal event unless the task had
 * already ended. The event's progress is the one the registry holds after the update (which never
 * decreases), so it is never below a progress published before it, whoever published that
 * (TaskProgress's own count only knows this process's events).
 */
export async function emitCancelled(
  svc: Pick<ServiceDeps, 'taskRegistry' | 'publisher' | 'logger' | 'metrics' | 'redis' | 'config'>,
  t: { taskId: string; userId: string; floor: number; workerId?: string },
  data: Record<string, unknown>,
  error: unknown,
): Promise<TaskUpdateOutcome> {
  const publish = async ({ outcome, progress }: { outcome: TaskUpdateOutcome; progress: number }) => {
    if (outcome === 'terminal') return;
    if (outcome === 'missing') svc.logger.warn({ task_id: t.taskId }, 'task document missing (expired?); cancelled event published anyway');
    await publishTaskEvent(svc, t.userId, t.taskId, 'cancelled', Math.max(t.floor, progress), { step: 'cancelled', ...data });
  };
  const { outcome } = await endTask(svc, t.userId, { taskId: t.taskId, status: 'cancelled', progressPercent: t.floor, currentStep: 'cancelled', ...(t.workerId ? { workerId: t.workerId } : {}), error }, publish);
  return outcome;
}

function zodMessage(err: z.ZodError): string {
  return err.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

function runnerMetrics(svc: ServiceDeps) {
  return {
    completed: svc.metrics.counter('tasks_completed_total', 'Tasks completed by kind', ['kind']),
    failed: svc.metrics.counter('tasks_failed_total', 'Tasks failed for good, by kind and error code', ['kind', 'code']),
    retried: svc.metrics.counter('tasks_retried_total', 'Task attempts that failed and will be retried', ['kind']),
    cancelled: svc.metrics.counter('tasks_cancelled_total', 'Tasks stopped by cancellation', ['kind']),
    queueWait: svc.metrics.histogram('task_queue_wait_seconds', 'Time a job waited in its queue before a worker took it (first attempt)', ['kind'], [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300]),
    duration: svc.metrics.histogram('task_duration_seconds', 'Duration of one task attempt', ['kind', 'outcome'], [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800]),
  };
}

/** What the runner's steps share: its options, the service dependencies and its metrics. */
interface Runtime {
  o: RunnerOptions;
  svc: ServiceDeps;
  m: ReturnType<typeof runnerMetrics>;
}

/**
 * The attempt guard: the time limit, the worker's job signal and (user tasks) the cancel flag in
 * Redis all end in one AbortSignal; `dispose()` stops watching.
 */
class AttemptGuard {
  private readonly ac = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly poll: NodeJS.Timeout | undefined;
  private readonly onJobAbort = () => this.abort(cancelled('the worker cancelled the job'));
  /** Rejects with the abort reason once aborted (never resolves). */
  readonly aborted: Promise<never>;

  constructor(
    maxDuration: number,
    private readonly jobSignal: AbortSignal | undefined,
    cancelWatch: { taskId: string; everyMs: number; svc: ServiceDeps; logger: Logger } | undefined,
  ) {
    this.timer = setTimeout(() => this.abort(timedOut(maxDuration)), maxDuration * 1000);
    jobSignal?.addEventListener('abort', this.onJobAbort, { once: true });
    if (cancelWatch) {
      const { taskId, svc, logger } = cancelWatch;
      this.poll = setInterval(() => {
        svc.redis.get(keys.taskCancel(taskId)).then(
          (v) => v !== null && this.abort(cancelled()),
          (err: Error) => logger.warn({ err: err.message, task_id: taskId }, 'cancel check failed'),
        );
      }, cancelWatch.everyMs);
    }
    this.aborted = new Promise<never>((_, reject) => this.ac.signal.addEventListener('abort', () => reject(this.ac.signal.reason as TaskError), { once: true }));
    this.aborted.catch(() => undefined);
  }

  get signal(): AbortSignal {
    return this.ac.signal;
  }

  abort(e: TaskError): void {
    if (!this.ac.signal.aborted) this.ac.abort(e);
  }

  /** Throws the abort reason when aborted (processors call it between steps). */
  readonly checkpoint = (): void => {
    if (this.ac.signal.aborted) throw this.ac.signal.reason;
  };

  dispose(): void {
    clearTimeout(this.timer);
    if (this.poll) clearInterval(this.poll);
    this.jobSignal?.removeEventListener('abort', this.onJobAbort);
  }
}

/** Waits until `work` has stopped, at most `graceMs`. */
async function settle(work: Promise<unknown>, graceMs: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise((r) => (t = setTimeout(r, graceMs)))]);
  if (t) clearTimeout(t);
}

/** One attempt: payload check, time limit, abort on cancel; waits (bounded) for the processor to stop. */
async function attempt(rt: Runtime, kind: AnyTaskKind, payload: unknown, base: Omit<TaskRunContext, 'signal' | 'checkpoint' | 'progress'>, progress: TaskRunContext['progress'] | undefined, maxDuration: number, jobSignal?: AbortSignal): Promise<unknown> {
  const { o, svc } = rt;
  const guard = new AttemptGuard(maxDuration, jobSignal, base.userId !== undefined ? { taskId: base.taskId, everyMs: o.cancelPollMs ?? 500, svc, logger: o.logger } : undefined);
  const ctx: TaskRunContext = {
    ...base,
    signal: guard.signal,
    checkpoint: guard.checkpoint,
    progress: async (pct, step, data) => {
      guard.checkpoint();
      if (progress) await progress(pct, step, data);
    },
  };
  let work: Promise<unknown> | undefined;
  try {
    const parsed = kind.payload.safeParse(payload);
    if (!parsed.success) throw invalidInput(`invalid ${kind.name} input: ${zodMessage(parsed.error)}`);
    work = kind.process(parsed.data, ctx);
    return await Promise.race([work, guard.aborted]);
  } catch (err) {
    // The processor sees the abort at its next checkpoint; keep the job until it has stopped.
    if (guard.signal.aborted && work) await settle(work, o.settleGraceMs ?? 5000);
    throw err;
  } finally {
    guard.dispose();
  }
}

/**
 * A processor's progress reports, pipelined one deep. A report is sent at once and the processor
 * carries on, so its next Redis commands (the work the report announces, e.g. a batch of vectors)
 * leave in the same socket write as the report instead of a round trip later; the next report and
 * the end of the attempt first wait for the previous report's answer. A task ended from elsewhere
 * still stops its processor at the next report (one step later than when each report was awaited),
 * and the registry and the ending mark keep refusing anything after its end as before.
 */
function pipelinedReports(report: TaskRunContext['progress']): { progress: TaskRunContext['progress']; settled(): Promise<void> } {
  let last: Promise<void> | undefined;
  return {
    progress: async (pct, step, data) => {
      const previous = last;
      const current = report(pct, step, data);
      current.catch(() => undefined); // surfaced by the next report or by settled()
      last = current;
      await previous;
    },
    settled: () => last ?? Promise.resolve(),
  };
}

/** A user task's attempt failed: cancelled, failed for good, or retried (BullMQ retries on a plain throw). */
async function endFailedAttempt(rt: Runtime, t: { kind: AnyTaskKind; d: TrackedJobData; reporter: TaskProgress; n: number; maxAttempts: number; log: Logger; end: (outcome: string) => void }, te: TaskError): Promise<never> {
  const { m, svc, o } = rt;
  const { kind, d, reporter, n, maxAttempts, log, end } = t;
  if (te.code === 'CANCELLED') {
    await emitCancelled(svc, { taskId: d.task_id, userId: d.user_id, floor: reporter.progress, workerId: o.workerId }, { reason: te.message }, toErrorBody(te));
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

async function runTracked(rt: Runtime, job: Job, kind: AnyTaskKind, jobSignal?: AbortSignal): Promise<unknown> {
  const { o, svc, m } = rt;
  const d = job.data as TrackedJobData;
  const tid = d.task_id;
  const log = o.logger.child({ task_id: tid, kind: kind.name, job_id: job.id });
  const maxAttempts = job.opts.attempts ?? 1;
  const n = job.attemptsMade + 1;
  const started = Date.now();
  const startedEvent = ['started', null, 'started', { attempt: n, max_attempts: maxAttempts, worker_id: o.workerId }] as const;
  // A first run (no earlier attempt, never stalled) starts from progress 0, so its `started` update
  // and event go out with the cancel-flag read (one round trip), and the task document is read only
  // when that update says the task had already ended (it then refuses the update and drops the
  // event). A retry or a recovered stalled job reads the document first, to start from the progress
  // already reached.
  const fresh = job.attemptsMade === 0 && !job.stalledCounter;
  let reporter = fresh ? new TaskProgress({ deps: svc, taskId: tid, userId: d.user_id, floor: 0, workerId: o.workerId }) : undefined;
  const [firstDoc, cancelFlag, early] = await Promise.all([fresh ? undefined : svc.taskRegistry.getTaskRegistry(tid), svc.redis.get(keys.taskCancel(tid)), reporter?.emit(...startedEvent)]);
  const doc = early === 'terminal' ? await svc.taskRegistry.getTaskRegistry(tid) : firstDoc;
  if (doc && TERMINAL_STATUSES.has(doc.task_info.status)) {
    log.info({ status: doc.task_info.status }, 'task already ended; job skipped');
    // The attempt that ended it may have died between the registry update and the event: publish
    // the terminal event from the registry (a no-op when it was published: once per task).
    await publishTaskEvent(svc, d.user_id, tid, doc.task_info.status as TaskEventStatus, doc.progress.progress_percent, {
      step: doc.progress.current_step ?? doc.task_info.status,
      recovered: true,
      ...(doc.result !== undefined ? { result: doc.result } : {}),
      ...(doc.error !== undefined ? { error: doc.error } : {}),
    });
    throw new UnrecoverableError(`task already ${doc.task_info.status}`);
  }
  reporter ??= new TaskProgress({ deps: svc, taskId: tid, userId: d.user_id, floor: doc?.progress.progress_percent ?? 0, workerId: o.workerId });
  const end = (outcome: string) => m.duration.observe({ kind: kind.name, outcome }, (Date.now() - started) / 1000);
  const reports = pipelinedReports(async (pct, step, data) => {
    if ((await reporter.emit('processing', pct, step, data)) === 'terminal') throw cancelled('task ended while running');
    await o.onProgress?.({ taskId: tid, status: 'processing', progress: reporter.progress, step });
  });
  try {
    if (cancelFlag !== null) throw cancelled();
    if ((early ?? (await reporter.emit(...startedEvent))) === 'terminal') throw cancelled('task ended before it started');
    const result = await attempt(rt, kind, d.payload, { taskId: tid, userId: d.user_id, companyId: d.company_id || DEFAULT_COMPANY_ID, attempt: n, deps: o.deps, logger: log }, reports.progress, d.max_duration, jobSignal);
    await reports.settled();
    await reporter.emit('completed', 100, 'completed', { result }, { result });
    m.completed.inc({ kind: kind.name });
    end('completed');
    return result;
  } catch (err) {
    // Not waiting for a report still in flight (a held one would hold the end): the reporter
    // already counts its progress, and the ending mark keeps its event before the terminal one.
    return endFailedAttempt(rt, { kind, d, reporter, n, maxAttempts, log, end }, toTaskError(err));
  }
}

async function runScheduled(rt: Runtime, job: Job, kind: AnyTaskKind, jobSignal?: AbortSignal): Promise<unknown> {
  const { o, svc, m } = rt;
  const tick = String(job.id);
  const log = o.logger.child({ scheduled: kind.name, job_id: tick });
  if (job.attemptsMade === 0) {
    const k = keys.schedulerRuns(`${kind.name}:${tick}`);
    const runs = await svc.redis.incr(k);
    await svc.redis.expire(k, 3600);
    if (runs > 1) log.warn({ runs }, 'scheduled tick is running more than once (recovered after a crash?)');
  }
  const started = Date.now();
  try {
    const result = await attempt(rt, kind, (job.data as { payload?: unknown } | undefined)?.payload ?? {}, { taskId: tick, userId: undefined, companyId: DEFAULT_COMPANY_ID, attempt: job.attemptsMade + 1, deps: o.deps, logger: log }, undefined, kind.options.maxDurationSeconds, jobSignal);
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

/** The shared processor (tracked user tasks or scheduled maintenance jobs) and the lost-job handler. */
export function createRunner(o: RunnerOptions) {
  const svc = o.deps.service;
  const rt: Runtime = { o, svc, m: runnerMetrics(svc) };
  const { m } = rt;

  const processor = async (job: Job, _token?: string, signal?: AbortSignal): Promise<unknown> => {
    const kind = o.kinds.get(job.name);
    if (!kind) throw new UnrecoverableError(`unknown task kind "${job.name}"`);
    if (job.attemptsMade === 0 && job.processedOn) m.queueWait.observe({ kind: kind.name }, Math.max(0, job.processedOn - job.timestamp - (job.delay ?? 0)) / 1000);
    return kind.tracked ? runTracked(rt, job, kind, signal) : runScheduled(rt, job, kind, signal);
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
