/**
 * Task state changes: one atomic registry update (terminal states final, progress never
 * decreasing) and a `task.progress_update` event on `user:{uid}`.
 *
 * A terminal event is published after its update, only when the registry said this update ended
 * the task, so each task publishes exactly one terminal event however many processes race to end
 * it. Its writer first sets the task's ending mark in the user's once-hash (same slot as the event
 * history), and a progress event is published only while that mark is absent (the publish script
 * checks it): a progress event never follows its task's terminal event. That lets a progress event
 * go in the same round trip as its registry update when every command of this process travels on
 * one ordered connection (a single Redis); on a cluster the two keys live on different nodes, so the
 * event waits for its update there.
 *
 * A terminal event carries `once` = the task id: the script publishes it at most once, so the
 * retry of a worker killed between the terminal registry update and its publish can publish it
 * again (recoverTerminalEvent) without ever doubling it. Each event is one script that appends it
 * to the user's history and PUBLISHes it.
 */
import type { ServiceDeps } from '../app/deps.js';
import { TERMINAL_STATUSES, type AfterTaskUpdate, type TaskProgressInput, type TaskUpdateOutcome } from '../registry/types.js';
import { endingMark, makeEvent, markEnding, type PublishOptions } from '../shared/events.js';
import { commandsRunInSendOrder } from '../shared/redis.js';

type ProgressDeps = Pick<ServiceDeps, 'taskRegistry' | 'publisher' | 'logger' | 'metrics' | 'redis' | 'config'>;

const ordered = (deps: Pick<ServiceDeps, 'config'>) => commandsRunInSendOrder(deps.config.redis);

/**
 * Ends a task: the ending mark, then the terminal registry update (in one round trip on a single
 * Redis, where the connection keeps their order), then `then` (the terminal event) when the update
 * ended the task.
 */
export async function endTask(deps: ProgressDeps, userId: string, input: TaskProgressInput, then: AfterTaskUpdate): Promise<{ outcome: TaskUpdateOutcome; progress: number }> {
  const mark = markEnding(deps.redis, userId, input.taskId);
  if (!ordered(deps)) await mark;
  const [r] = await Promise.all([deps.taskRegistry.updateTask(input, then), mark]);
  return r;
}

export type TaskEventStatus = 'queued' | 'started' | 'processing' | 'completed' | 'failed' | 'cancelled';

export interface ProgressHook {
  (e: { taskId: string; status: TaskEventStatus; progress: number; step: string }): Promise<void> | void;
}

export class TaskProgress {
  private last: number;

  constructor(
    private readonly o: {
      deps: ProgressDeps;
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
    const d = this.o.deps;
    const { taskId, userId } = this.o;
    const input: TaskProgressInput = {
      taskId,
      status,
      progressPercent: progress,
      currentStep: step,
      ...(this.o.workerId ? { workerId: this.o.workerId } : {}),
      ...(record.result !== undefined ? { result: record.result } : {}),
      ...(record.error !== undefined ? { error: record.error } : {}),
    };
    const warnMissing = (outcome: TaskUpdateOutcome) => {
      if (outcome === 'missing') d.logger.warn({ task_id: taskId, status }, 'task document missing (expired?); event published anyway');
    };
    if (TERMINAL_STATUSES.has(status)) {
      const publish: AfterTaskUpdate = async ({ outcome }) => {
        if (outcome === 'terminal') return;
        warnMissing(outcome);
        this.last = progress;
        await publishTaskEvent(d, userId, taskId, status, progress, { step, ...data });
      };
      return (await endTask(d, userId, input, publish)).outcome;
    }
    const event = () => publishTaskEvent(d, userId, taskId, status, progress, { step, ...data }, { unlessOnce: endingMark(taskId) });
    // Counted when sent, not when answered: a report may still be in flight (the runner pipelines
    // them) when a terminal event is built, and that event must not carry less than the report.
    this.last = progress;
    if (ordered(d)) {
      // Update and event in one round trip; Redis drops the event once the task is ending.
      const [outcome] = await Promise.all([d.taskRegistry.updateTaskProgress(input), event()]);
      warnMissing(outcome);
      return outcome;
    }
    return d.taskRegistry.updateTaskProgress(input, async ({ outcome }) => {
      if (outcome === 'terminal') return;
      warnMissing(outcome);
      await event();
    });
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
  opts?: PublishOptions,
): Promise<void> {
  try {
    // A terminal event is published once per task (CONTRACT §6), also when a retry re-publishes it.
    const publishOpts = TERMINAL_STATUSES.has(status) ? { once: taskId } : opts;
    await deps.publisher.publishUser(makeEvent('task.progress_update', userId, { task_id: taskId, status, progress, data }), publishOpts);
  } catch (err) {
    deps.metrics.counter('task_event_publish_errors_total', 'task.progress_update events that could not be published').inc();
    deps.logger.error({ err: (err as Error).message, task_id: taskId, status }, 'could not publish task event');
  }
}
