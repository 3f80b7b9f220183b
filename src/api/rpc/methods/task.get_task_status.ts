import { z } from 'zod';
import { defineMethod, id, optionalId } from '../types.js';
import { taskService } from '../services.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'TASK.get_task_status',
  result: R.taskStatus,
  description: "Status, progress and isolation of a task; NOT_FOUND for an unknown id or another user's task (envelope or argument user_id).",
  args: z.object({ task_id: id('task_id'), user_id: optionalId('user_id') }),
  handler: (a, ctx) => taskService(ctx.deps).getTaskStatus(a.task_id, [ctx.userId, a.user_id]),
});
