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
