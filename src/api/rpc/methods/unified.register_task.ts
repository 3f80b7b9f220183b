import { z } from 'zod';
import { defineMethod, id } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'UNIFIED_REGISTRY.register_task',
  description: "Creates a task document (TTL max_duration + 300 s); returns it. CONFLICT when the id is another user's task.",
  result: R.taskDocument,
  args: z.object({
    task_id: id('task_id'),
    task_type: z.string().min(1).max(64),
    user_id: id('user_id'),
    company_id: id('company_id'),
    priority: z.enum(['low', 'normal', 'high', 'urgent']).default('normal'),
    max_duration: z.number().int().min(1).max(7 * 86400).default(3600),
  }),
  // The task registry also lists the task on the user's document (its onTask hook).
  handler: (a, ctx) =>
    ctx.deps.taskRegistry.registerTask({
      taskId: a.task_id,
      taskType: a.task_type,
      userId: a.user_id,
      companyId: a.company_id,
      priority: a.priority,
      maxDuration: a.max_duration,
    }),
});
