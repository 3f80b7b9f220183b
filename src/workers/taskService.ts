/**
 * TASK.* (CONTRACT §4), the enqueue side: any role that answers RPCs builds one.
 *
 * Start: the task document is registered first (status `queued`, so `get_task_status` resolves at
 * once), the `queued` event is published, then the job is added with BullMQ `jobId` = task id.
 * Task ids are deterministic (`embeddings_{collection}`…), so starting an id whose previous run is
 * still queued or running answers CONFLICT; a finished run's job is removed first, so the same id
 * can run again. A short Redis lock keeps two concurrent starts of one id from both enqueueing.
 *
 * Isolation (CONTRACT §13.8): a task id held by another user's task is never replaced (CONFLICT on
 * start) nor shown or cancelled (NOT_FOUND, the same answer as an unknown id, so ids of other
 * users cannot be probed); vectors are stored and queried per company.
 */
import { randomUUID } from 'node:crypto';
import type { ServiceDeps, TaskCallers, TaskService } from '../app/deps.js';
import { TERMINAL_STATUSES, type TaskDocument } from '../registry/types.js';
import { conflict, notFound, toErrorBody, unavailable } from '../shared/errors.js';
import { cancelled } from './errors.js';
import { keys } from '../shared/keys.js';
import { publishTaskEvent, TaskProgress } from './progress.js';
import { emitCancelled } from './runner.js';
import type { QueueSet } from './queues.js';
import type { TrackedJobData } from './runner.js';
import { DEFAULT_COMPANY_ID } from './tasks/types.js';
import { documentAnalysis, llmConversation, vectorComputation } from './tasks/index.js';
import type { TaskKind } from './tasks/types.js';
import { VectorStore } from './vectorStore.js';

export { DEFAULT_COMPANY_ID };

/** True when every given caller id is the owner (no caller id given: a trusted backend call). */
const ownedBy = (owner: string, callers: TaskCallers | undefined): boolean => (callers ?? []).every((c) => c === null || c === undefined || c === owner);

const KEEP_COMPLETED = { age: 3600, count: 1000 };
const KEEP_FAILED = { age: 24 * 3600, count: 5000 };
const QUEUED_STATES = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children', 'active']);

const RELEASE_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export interface TaskServiceOptions {
  deps: ServiceDeps;
  queues: QueueSet;
}

export function createTaskService(o: TaskServiceOptions): TaskService {
  const { deps, queues } = o;
  const enqueued = deps.metrics.counter('tasks_enqueued_total', 'Tasks queued by kind', ['kind']);
  const kindOfType = new Map<string, TaskKind<any, unknown>>([documentAnalysis, vectorComputation, llmConversation].map((k) => [k.name, k]));

  const idArg = (kind: TaskKind<any, unknown>) => (kind === documentAnalysis ? 'job_id' : kind === vectorComputation ? 'collection_name' : 'conversation_id');

  /** The task document when every caller owns it, else NOT_FOUND (worded like an unknown id). */
  async function ownedTask(taskId: string, callers: TaskCallers | undefined): Promise<TaskDocument> {
    const doc = await deps.taskRegistry.getTaskRegistry(taskId);
    if (!doc || !ownedBy(doc.task_info.user_id, callers)) throw notFound(`task ${taskId} not found`);
    return doc;
  }

  async function start(kind: TaskKind<any, unknown>, taskId: string, userId: string, companyId: string, payload: Record<string, unknown>): Promise<string> {
    const lockKey = keys.taskStartLock(taskId);
    const token = randomUUID();
    if ((await deps.redis.set(lockKey, token, 'PX', 10000, 'NX')) === null) throw conflict(`task ${taskId} is being started by another request`);
    try {
      const queue = queues.get(kind.queue);
      const [doc, old] = await Promise.all([deps.taskRegistry.getTaskRegistry(taskId), queue.getJob(taskId)]);
      if (doc && doc.task_info.user_id !== userId) throw conflict(`task id ${taskId} is taken by another user's task; choose another ${idArg(kind)}`);
      if (doc && !TERMINAL_STATUSES.has(doc.task_info.status)) throw conflict(`task ${taskId} is already ${doc.task_info.status}; cancel it or wait for it to end`);
      if (old) {
        const state = await old.getState();
        if (QUEUED_STATES.has(state)) throw conflict(`task ${taskId} still has a ${state} job (a cancelled run that has not stopped yet?); retry shortly`);
        await old.remove();
      }
      await Promise.all([
        deps.redis.del(keys.taskCancel(taskId)),
        deps.taskRegistry.registerTask({ taskId, taskType: kind.name, userId, companyId, priority: kind.options.priority, maxDuration: kind.options.maxDurationSeconds }),
      ]);
      await publishTaskEvent(deps, userId, taskId, 'queued', 0, { step: 'queued', task_type: kind.name, queue: kind.queue });
      const data: TrackedJobData = { task_id: taskId, user_id: userId, company_id: companyId, max_duration: kind.options.maxDurationSeconds, payload };
      try {
        const job = await queue.add(kind.name, data, {
          jobId: taskId,
          attempts: kind.options.attempts,
          backoff: { type: 'exponential', delay: kind.options.backoffMs },
          removeOnComplete: KEEP_COMPLETED,
          removeOnFail: KEEP_FAILED,
        });
        enqueued.inc({ kind: kind.name });
        return String(job.id);
      } catch (err) {
        deps.logger.error({ err: (err as Error).message, task_id: taskId }, 'could not enqueue task');
        const error = toErrorBody(unavailable('the task queue is unavailable'));
        await new TaskProgress({ deps, taskId, userId }).emit('failed', null, 'failed', { error }, { error });
        throw unavailable('the task queue is unavailable; try again', 200);
      }
    } finally {
      // Release only our own lock (it may have expired and been taken by someone else).
      await deps.redis.eval(RELEASE_LOCK, 1, lockKey, token).catch((err: Error) => deps.logger.warn({ err: err.message, task_id: taskId }, 'could not release the start lock (it expires by itself)'));
    }
  }

  const status = (doc: TaskDocument) => {
    const out: Record<string, unknown> = {
      success: true,
      task_id: doc.task_info.task_id,
      task_type: doc.task_info.task_type,
      user_id: doc.task_info.user_id,
      company_id: doc.task_info.company_id,
      status: doc.task_info.status,
      progress: doc.progress,
      created_at: doc.task_info.created_at,
      isolation: doc.isolation,
    };
    if (doc.result !== undefined) out.result = doc.result;
    if (doc.error !== undefined) out.error = doc.error;
    return out;
  };

  return {
    async startDocumentAnalysis(a) {
      const taskId = `doc_analysis_${a.job_id}`;
      const q = await start(documentAnalysis, taskId, a.user_id, a.company_id ?? DEFAULT_COMPANY_ID, { job_id: a.job_id, document_data: a.document_data });
      return { success: true, task_id: taskId, job_id: a.job_id, status: 'queued', queue_job_id: q, celery_task_id: q };
    },
    async startVectorComputation(a) {
      const taskId = `embeddings_${a.collection_name}`;
      const q = await start(vectorComputation, taskId, a.user_id, a.company_id ?? DEFAULT_COMPANY_ID, { collection_name: a.collection_name, documents: a.documents });
      return { success: true, task_id: taskId, collection_name: a.collection_name, status: 'queued', queue_job_id: q, celery_task_id: q };
    },
    async startLlmConversation(a) {
      const conversationId = a.conversation_id ?? randomUUID();
      const taskId = `llm_${conversationId}`;
      const q = await start(llmConversation, taskId, a.user_id, a.company_id, {
        conversation_id: conversationId,
        company_id: a.company_id,
        prompt: a.prompt,
        model: a.model,
        temperature: a.temperature,
      });
      return { success: true, conversation_id: conversationId, task_id: taskId, status: 'queued', queue_job_id: q, celery_task_id: q };
    },
    async getTaskStatus(taskId, callers) {
      return status(await ownedTask(taskId, callers));
    },
    async cancelTask(taskId, callers) {
      const doc = await ownedTask(taskId, callers);
      const was = doc.task_info.status;
      if (TERMINAL_STATUSES.has(was)) return { success: false, task_id: taskId, status: was, message: `task already ${was}` };
      // The flag first: a worker that takes the job from now on stops at its first check.
      await deps.redis.set(keys.taskCancel(taskId), '1', 'EX', doc.isolation.max_duration + 300);
      const kind = kindOfType.get(doc.task_info.task_type);
      let removed = false;
      if (kind) {
        const job = await queues.get(kind.queue).getJob(taskId);
        const state = job ? await job.getState() : 'missing';
        if (job && state !== 'active') removed = await job.remove().then(() => true, () => false);
      }
      // The event carries the progress stored at the moment of cancelling (never below the last one).
      const outcome = await emitCancelled(deps, { taskId, userId: doc.task_info.user_id, floor: doc.progress.progress_percent }, { reason: 'cancelled by request', was }, toErrorBody(cancelled('cancelled by request')));
      if (outcome === 'terminal') {
        const now = await deps.taskRegistry.getTaskRegistry(taskId);
        return { success: false, task_id: taskId, status: now?.task_info.status ?? 'unknown', message: 'task ended before it could be cancelled' };
      }
      return { success: true, task_id: taskId, status: 'cancelled', previous_status: was, removed_from_queue: removed };
    },
    async listUserTasks(userId, wanted, callers) {
      if (!ownedBy(userId, callers)) throw notFound(`no tasks of user ${userId} are visible to this caller`);
      const docs = await deps.taskRegistry.listUserTasks(userId);
      return docs
        .filter((d) => wanted === null || d.task_info.status === wanted)
        .map((d) => ({
          task_id: d.task_info.task_id,
          task_type: d.task_info.task_type,
          status: d.task_info.status,
          company_id: d.task_info.company_id,
          created_at: d.task_info.created_at,
          progress_percent: d.progress.progress_percent,
          current_step: d.progress.current_step,
        }));
    },
    async queryVectors(a) {
      const neighbours = await new VectorStore(deps.redis, a.company_id ?? DEFAULT_COMPANY_ID).query(a.collection_name, a.query, Math.max(1, Math.min(100, a.top_k)));
      return neighbours as unknown as Array<Record<string, unknown>>;
    },
  };
}
