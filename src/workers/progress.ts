/**
 * Task state changes: one atomic registry update (terminal states final, progress never
 * decreasing), then a `task.progress_update` event on `user:{uid}` unless the registry said the
 * task had already ended, so each task publishes exactly one terminal event however many
 * processes race to end it. The event itself is one round trip: the publish script appends it to
 * the user's history and PUBLISHes it (no lease fence: the registry update above is the guard).
 * A terminal event carries `once` = the task id: the script publishes it at most once, so the
 * retry of a worker killed between the terminal registry update and its publish can publish it
 * again (recoverTerminalEvent) without ever doubling it.
 */
import type { ServiceDeps } from '../app/deps.js';
import { TERMINAL_STATUSES, type TaskUpdateOutcome } from '../registry/types.js';
import { makeEvent } from '../shared/events.js';

export type TaskEventStatus = 'queued' | 'started' | 'processing' | 'completed' | 'failed' | 'cancelled';

export interface ProgressHook {
  (e: { taskId: string; status: TaskEventStatus; progress: number; step: string }): Promise<void> | void;
}

export class TaskProgress {
  private last: number;

  constructor(
    private readonly o: {
      deps: Pick<ServiceDeps, 'taskRegistry' | 'publisher' | 'logger' | 'metrics'>;
      taskId: string;
      userId: string;
      /** Progress already reached (a retried or recovered attempt never goes below it). */
      floor?: number;
      workerId?: string;
    },
  ) {
    this.last = o.floor ?? 0;
  }

  get progress(): number {
    return this.last;
  }

  async emit(
    status: TaskEventStatus,
    percent: number | null,
    step: string,
    data: Record<string, unknown> = {},
    record: { result?: unknown; error?: unknown } = {},
  ): Promise<TaskUpdateOutcome> {
    const want = status === 'completed' ? 100 : percent === null ? this.last : Math.max(0, Math.min(100, Math.round(percent)));
    const progress = Math.max(this.last, want);
    const outcome = await this.o.deps.taskRegistry.updateTaskProgress({
      taskId: this.o.taskId,
      status,
      progressPercent: progress,
      currentStep: step,
      ...(this.o.workerId ? { workerId: this.o.workerId } : {}),
      ...(record.result !== undefined ? { result: record.result } : {}),
      ...(record.error !== undefined ? { error: record.error } : {}),
    });
    if (outcome === 'terminal') return outcome;
    if (outcome === 'missing') this.o.deps.logger.warn({ task_id: this.o.taskId, status }, 'task document missing (expired?); event published anyway');
    this.last = progress;
    await publishTaskEvent(this.o.deps, this.o.userId, this.o.taskId, status, progress, { step, ...data });
    return outcome;
  }
}

/** Publishes one `task.progress_update`; a publish failure is logged and counted, not thrown. */
export async function publishTaskEvent(
  deps: Pick<ServiceDeps, 'publisher' | 'logger' | 'metrics'>,
  userId: string,
  taskId: string,
  status: TaskEventStatus,
  progress: number,
  data: Record<string, unknown>,
): Promise<void> {
  try {
    // A terminal event is published once per task (CONTRACT §6), also when a retry re-publishes it.
    const once = TERMINAL_STATUSES.has(status) ? taskId : undefined;
    await deps.publisher.publishUser(makeEvent('task.progress_update', userId, { task_id: taskId, status, progress, data }), once ? { once } : undefined);
  } catch (err) {
    deps.metrics.counter('task_event_publish_errors_total', 'task.progress_update events that could not be published').inc();
    deps.logger.error({ err: (err as Error).message, task_id: taskId, status }, 'could not publish task event');
  }
}
