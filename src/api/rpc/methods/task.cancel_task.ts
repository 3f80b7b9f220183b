import { z } from 'zod';
import { defineMethod, id } from '../types.js';
import { taskService } from '../services.js';

export default defineMethod({
  name: 'TASK.cancel_task',
  description: 'Cancels a queued or running task.',
  args: z.object({ task_id: id('task_id') }),
  handler: (a, ctx) => taskService(ctx.deps).cancelTask(a.task_id),
});
