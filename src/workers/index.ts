import type { RoleContext } from '../roles.js';

/**
 * PLACEHOLDER (issue 3 replaces this file): queues on the queue Redis and `core.deps.tasks`
 * (enqueue side, used by the api role's TASK.* methods); `/admin/queues` when ctx.app is set.
 */
export async function setupTasks(_ctx: RoleContext): Promise<void> {}

/** PLACEHOLDER (issue 3): BullMQ workers for config.workerQueues (worker/all roles). */
export async function startWorkers(_ctx: RoleContext): Promise<void> {}
