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
 * users cannot be probed); vectors are stored and queried per company. Starting a task is
 * src/workers/startTask.ts.
 */
import { randomUUID } from 'node:crypto';
import type { BaseDeps, TaskCallers, TaskService } from '../app/deps.js';
import { TERMINAL_STATUSES, type TaskDocument } from '../registry/types.js';
import { notFound, toErrorBody } from '../shared/errors.js';
import { cancelled } from './errors.js';
import { keys } from '../shared/keys.js';
import { emitCancelled } from './runner.js';
import type { QueueSet } from './queues.js';
import { DEFAULT_COMPANY_ID } from './tasks/types.js';
import { documentAnalysis, llmConversation, TASK_KINDS, vectorComputation } from './tasks/index.js';
import type { AnyTaskKind } from './tasks/types.js';
import { createTaskStarter, type StartTask } from './startTask.js';
import { VectorStore } from './vectorStore.js';

export { DEFAULT_COMPANY_ID };

/** True when every given caller id is the owner (no caller id given: a trusted backend call). */
const ownedBy = (owner: string, callers: TaskCallers | undefined): boolean => (callers ?? []).every((c) => c === null || c === undefined || c === owner);

export interface TaskServiceOptions {
  deps: BaseDeps;
  queues: QueueSet;
}

/** The user (tracked) task kinds by task_type, derived from the one list of kinds. */
const kindOfType: ReadonlyMap<string, AnyTaskKind> = new Map(TASK_KINDS.filter((k) => k.tracked).map((k) => [k.name, k]));

/** get_task_status's answer for a task document. */
function statusOf(doc: TaskDocument): Record<string, unknown> {
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
}

/** TASK.start_*: the deterministic task id of each kind and its answer. */
function startMethods(start: StartTask): Pick<TaskService, 'startDocumentAnalysis' | 'startVectorComputation' | 'startLlmConversation'> {
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
  };
}

/** TASK.cancel_task on a task the caller owns: the cancel flag, the queued job removed, the `cancelled` event. */
async function cancelOwnedTask(deps: BaseDeps, queues: QueueSet, taskId: string, doc: TaskDocument): Promise<Record<string, unknown>> {
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
}

export function createTaskService(o: TaskServiceOptions): TaskService {
  const { deps, queues } = o;

  /** The task document when every caller owns it, else NOT_FOUND (worded like an unknown id). */
  async function ownedTask(taskId: string, callers: TaskCallers | undefined): Promise<TaskDocument> {
    const doc = await deps.taskRegistry.getTaskRegistry(taskId);
    if (!doc || !ownedBy(doc.task_info.user_id, callers)) throw notFound(`task ${taskId} not found`);
    return doc;
  }

  return {
    ...startMethods(createTaskStarter({ deps, queues })),
    async getTaskStatus(taskId, callers) {
      return statusOf(await ownedTask(taskId, callers));
    },
    async cancelTask(taskId, callers) {
      return cancelOwnedTask(deps, queues, taskId, await ownedTask(taskId, callers));
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
