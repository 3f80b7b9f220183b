/**
 * Starting a user task (TASK.start_*, CONTRACT §4): the task document is registered first (status
 * `queued`, so `get_task_status` resolves at once), the `queued` event is published, then the job is
 * added with BullMQ `jobId` = task id. Task ids are deterministic, so an id whose previous run is
 * still queued or running answers CONFLICT; a finished run's job is removed first, so the same id can
 * run again. A short Redis lock keeps two concurrent starts of one id from both enqueueing.
 */
import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { BaseDeps } from '../app/deps.js';
import { TERMINAL_STATUSES } from '../registry/types.js';
import { conflict, toErrorBody, unavailable } from '../shared/errors.js';
import { endingMark } from '../shared/events.js';
import { keys } from '../shared/keys.js';
import { commandsRunInSendOrder } from '../shared/redis.js';
import { publishTaskEvent, TaskProgress } from './progress.js';
import type { QueueSet } from './queues.js';
import type { TrackedJobData } from './runner.js';
import { documentAnalysis, vectorComputation } from './tasks/index.js';
import type { AnyTaskKind } from './tasks/types.js';

const KEEP_COMPLETED = { age: 3600, count: 1000 };
const KEEP_FAILED = { age: 24 * 3600, count: 5000 };
const QUEUED_STATES = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children', 'active']);
const START_LOCK_MS = 10000;
const RELEASE_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** The argument a caller changes to get another task id of this kind (named in CONFLICT answers). */
const idArg = (kind: AnyTaskKind) => (kind === documentAnalysis ? 'job_id' : kind === vectorComputation ? 'collection_name' : 'conversation_id');

export type StartTask = (kind: AnyTaskKind, taskId: string, userId: string, companyId: string, payload: Record<string, unknown>) => Promise<string>;

/** The state a start needs, read while the start lock is taken (one round trip for both). */
interface Claimed {
  doc: Awaited<ReturnType<BaseDeps['taskRegistry']['getTaskRegistry']>>;
  old: Awaited<ReturnType<Queue['getJob']>>;
}

/**
 * Runs `work` holding the start lock of `taskId`; CONFLICT when another request holds it. The
 * lock and the reads the claim needs go out together (the reads are wasted only when the lock is
 * refused); the lock is released after the answer without holding it up (a later start of the id
 * finds the task live anyway, and the lock expires by itself if the release is lost).
 */
async function withStartLock<T>(deps: BaseDeps, queue: Queue, taskId: string, work: (claimed: Claimed) => Promise<T>): Promise<T> {
  const lockKey = keys.taskStartLock(taskId);
  const token = randomUUID();
  const [locked, doc, old] = await Promise.all([deps.redis.set(lockKey, token, 'PX', START_LOCK_MS, 'NX'), deps.taskRegistry.getTaskRegistry(taskId), queue.getJob(taskId)]);
  if (locked === null) throw conflict(`task ${taskId} is being started by another request`);
  try {
    return await work({ doc, old });
  } finally {
    // Release only our own lock (it may have expired and been taken by someone else).
    (deps.redis as unknown as StartScripts).taskReleaseStartLock(lockKey, token).catch((err: Error) => deps.logger.warn({ err: err.message, task_id: taskId }, 'could not release the start lock (it expires by itself)'));
  }
}

interface StartScripts {
  taskReleaseStartLock(key: string, token: string): Promise<number>;
}

/** CONFLICT unless the id is free for `userId`; removes a finished run's job so the id can run again. */
async function claimTaskId(kind: AnyTaskKind, taskId: string, userId: string, { doc, old }: Claimed): Promise<void> {
  if (doc && doc.task_info.user_id !== userId) throw conflict(`task id ${taskId} is taken by another user's task; choose another ${idArg(kind)}`);
  // A live task has its job. A non-terminal document without any job (we hold the start lock, so
  // no other start is between its two steps) is an orphan: a start killed after registering it and
  // before enqueuing. It is started again instead of refusing every retry forever.
  if (doc && !TERMINAL_STATUSES.has(doc.task_info.status) && old) throw conflict(`task ${taskId} is already ${doc.task_info.status}; cancel it or wait for it to end`);
  if (old) {
    const state = await old.getState();
    if (QUEUED_STATES.has(state)) throw conflict(`task ${taskId} still has a ${state} job (a cancelled run that has not stopped yet?); retry shortly`);
    await old.remove();
  }
}

/** Adds the job; when the queue is down the task ends `failed` and the caller gets UNAVAILABLE. */
async function enqueue(deps: BaseDeps, queue: Queue, kind: AnyTaskKind, data: TrackedJobData): Promise<string> {
  const { task_id: taskId, user_id: userId } = data;
  try {
    const job = await queue.add(kind.name, data, {
      jobId: taskId,
      attempts: kind.options.attempts,
      backoff: { type: 'exponential', delay: kind.options.backoffMs },
      removeOnComplete: KEEP_COMPLETED,
      removeOnFail: KEEP_FAILED,
    });
    return String(job.id);
  } catch (err) {
    deps.logger.error({ err: (err as Error).message, task_id: taskId }, 'could not enqueue task');
    const error = toErrorBody(unavailable('the task queue is unavailable'));
    await new TaskProgress({ deps, taskId, userId }).emit('failed', null, 'failed', { error }, { error });
    throw unavailable('the task queue is unavailable; try again', 200);
  }
}

/** Starts tasks on `queues`: lock → claim the id → register + `queued` event → enqueue. Returns the queue job id. */
export function createTaskStarter(o: { deps: BaseDeps; queues: QueueSet }): StartTask {
  const { deps, queues } = o;
  const enqueued = deps.metrics.counter('tasks_enqueued_total', 'Tasks queued by kind', ['kind']);
  if (typeof (deps.redis as unknown as Partial<StartScripts>).taskReleaseStartLock !== 'function') {
    deps.redis.defineCommand('taskReleaseStartLock', { numberOfKeys: 1, lua: RELEASE_LOCK });
  }
  return (kind, taskId, userId, companyId, payload) => {
    const queue = queues.get(kind.queue);
    return withStartLock(deps, queue, taskId, async (claimed) => {
      await claimTaskId(kind, taskId, userId, claimed);
      // The registration, then the `queued` event: in one round trip on a single Redis (one
      // connection keeps their order); on a cluster the event waits, as the task key and the user's
      // history live on different nodes and the document must exist when the event is seen.
      // Under the start lock, with the id claimed above, the registration is not refused.
      const registered = Promise.all([
        deps.redis.del(keys.taskCancel(taskId)),
        // A new run of this id has a terminal event of its own to publish (once per run).
        deps.redis.hdel(keys.eventOnce(userId), taskId, endingMark(taskId)),
        deps.taskRegistry.registerTask({ taskId, taskType: kind.name, userId, companyId, priority: kind.options.priority, maxDuration: kind.options.maxDurationSeconds }),
      ]);
      const queued = () => publishTaskEvent(deps, userId, taskId, 'queued', 0, { step: 'queued', task_type: kind.name, queue: kind.queue });
      if (commandsRunInSendOrder(deps.config.redis)) await Promise.all([registered, queued()]);
      else await registered.then(queued);
      const jobId = await enqueue(deps, queue, kind, { task_id: taskId, user_id: userId, company_id: companyId, max_duration: kind.options.maxDurationSeconds, payload });
      enqueued.inc({ kind: kind.name });
      return jobId;
    });
  };
}
