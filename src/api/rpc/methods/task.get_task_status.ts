import { z } from 'zod';
import { defineMethod, id } from '../types.js';
import { taskService } from '../services.js';

export default defineMethod({
  name: 'TASK.get_task_status',
  description: 'Status, progress and isolation of a task; NOT_FOUND for an unknown id.',
  args: z.object({ task_id: id('task_id') }),
  handler: (a, ctx) => taskService(ctx.deps).getTaskStatus(a.task_id),
});
