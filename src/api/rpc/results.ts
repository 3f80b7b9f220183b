/**
 * Shapes of RPC answers (`data` of `{ok: true, data}`), for the OpenAPI document: a method names
 * its shape with `result:` in its definition. Documentation only — answers are not validated
 * against them at run time; test/integration/openapi.test.ts checks real answers against a few.
 * The shapes follow src/registry/types.ts.
 */
import { z } from 'zod';
import { TASK_STATUSES } from '../../registry/types.js';

const iso = z.string().describe('ISO-8601 time');

export const bool = z.boolean();

export const registerUser = z.object({ user_id: z.string(), session_id: z.string(), backend_route: z.string(), last_seen_at: iso });

export const heartbeat = z.object({ user_id: z.string(), status: z.literal('online'), heartbeat_at: iso });

export const userDocument = z
  .object({
    user_info: z.object({ user_id: z.string(), session_id: z.string(), backend_route: z.string(), last_seen_at: iso, status: z.enum(['online', 'offline']) }),
    companies: z.object({ current_company_id: z.string(), authorized_companies_ids: z.array(z.string()), company_roles: z.record(z.string(), z.string()) }),
    services: z.record(z.string(), z.record(z.string(), z.unknown())).describe('one object per service (chroma, llm, tasks, …)'),
    heartbeat: z.object({ last_heartbeat: iso, ttl_seconds: z.number() }),
  })
  .describe('The unified registry document of a user');

export const taskDocument = z
  .object({
    task_info: z.object({ task_id: z.string(), task_type: z.string(), user_id: z.string(), company_id: z.string(), created_at: iso, status: z.enum(TASK_STATUSES) }),
    isolation: z.object({ namespace: z.string(), priority: z.string(), max_duration: z.number() }),
    progress: z.object({ current_step: z.string().nullable(), progress_percent: z.number(), estimated_completion: z.string().nullable() }),
    resources: z.object({ worker_id: z.string().nullable(), memory_usage: z.number().nullable(), cpu_usage: z.number().nullable() }),
    result: z.unknown().optional(),
    error: z.unknown().optional(),
  })
  .describe('A task document of the task registry');

export const userIds = z.array(z.string()).describe('user ids');

// REGISTRY listener bookkeeping (the original's shapes, CONTRACT §13.3). Domain refusals answer
// ok:true with {success:false, error, message}.
const listenerRefusal = z.object({ success: z.literal(false), error: z.string(), message: z.string(), existing_listener: z.unknown().optional() });
const nullableStr = z.string().nullable();

export const checkListenerStatus = z.union([
  z.object({
    success: z.literal(true),
    active: z.boolean(),
    listener_id: z.string(),
    status: z.enum(['active', 'expired', 'zombie', 'not_found']),
    created_at: nullableStr.optional(),
    last_heartbeat: nullableStr.optional(),
    channel_name: nullableStr.optional(),
    details: z.object({ listener_type: nullableStr, space_code: nullableStr, thread_key: nullableStr, mode: nullableStr }).optional(),
  }),
  listenerRefusal,
]);

export const registerListener = z.union([
  z.object({ success: z.literal(true), listener_id: z.string(), channel_name: z.string(), created_at: iso, message: z.string() }),
  listenerRefusal,
]);

export const unregisterListener = z.union([z.object({ success: z.literal(true), listener_id: z.string(), message: z.string() }), listenerRefusal]);

export const listUserListeners = z.object({
  success: z.literal(true),
  user_id: z.string(),
  listeners: z.array(z.object({ listener_id: z.string() }).catchall(z.unknown())),
  total_count: z.number(),
  active_count: z.number(),
  expired_count: z.number(),
});

export const cleanupUserListeners = z.object({
  success: z.literal(true),
  cleaned_count: z.number(),
  cleaned_listeners: z.array(z.object({ listener_id: z.string(), listener_type: z.unknown(), status: z.unknown(), space_code: z.unknown(), thread_key: z.unknown() })),
  message: z.string(),
});

// CHROMA_VECTOR registry (CONTRACT §13.7).
export const chromaRegistration = z.object({ user_id: z.string(), collection_name: z.string(), session_id: z.string(), registered_at: iso, last_heartbeat: iso });
export const chromaHeartbeat = z.object({ user_id: z.string(), collection_name: z.string(), heartbeat_updated: z.boolean() });
export const chromaUnregister = z.object({ user_id: z.string(), collection_name: z.string(), unregistered: z.boolean() });

// TASK.* (CONTRACT §4). queue_job_id replaces the original's celery_task_id, kept as an alias.
const started = { success: z.literal(true), task_id: z.string(), status: z.literal('queued'), queue_job_id: z.string(), celery_task_id: z.string() };
export const startDocumentAnalysis = z.object({ ...started, job_id: z.string() });
export const startVectorComputation = z.object({ ...started, collection_name: z.string() });
export const startLlmConversation = z.object({ ...started, conversation_id: z.string() });

export const taskStatus = z.object({
  success: z.literal(true),
  task_id: z.string(),
  task_type: z.string(),
  user_id: z.string(),
  company_id: z.string(),
  status: z.enum(TASK_STATUSES),
  progress: taskDocument.shape.progress,
  created_at: iso,
  isolation: taskDocument.shape.isolation,
  result: z.unknown().optional(),
  error: z.unknown().optional(),
});

export const cancelTask = z.object({
  success: z.boolean(),
  task_id: z.string(),
  status: z.string(),
  previous_status: z.string().optional(),
  removed_from_queue: z.boolean().optional(),
  message: z.string().optional(),
});

export const userTasks = z.array(
  z.object({ task_id: z.string(), task_type: z.string(), status: z.enum(TASK_STATUSES), company_id: z.string(), created_at: iso, progress_percent: z.number(), current_step: z.string().nullable() }),
);

export const vectorHits = z.array(z.object({ id: z.string(), score: z.number(), preview: z.string().nullable(), metadata: z.record(z.string(), z.unknown()).nullable() }));
