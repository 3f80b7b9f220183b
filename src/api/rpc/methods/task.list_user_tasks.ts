import { z } from 'zod';
import { TASK_STATUSES } from '../../../registry/types.js';
import { defineMethod, id } from '../types.js';
import { taskService } from '../services.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'TASK.list_user_tasks',
  result: R.userTasks,
  description: "The user's recent tasks (last 24 h), optionally filtered by status; NOT_FOUND when the envelope's user_id is another user.",
  args: z.object({ user_id: id('user_id'), status: z.enum(TASK_STATUSES).nullish().transform((v) => v ?? null) }),
  handler: (a, ctx) => taskService(ctx.deps).listUserTasks(a.user_id, a.status, [ctx.userId]),
});
