import { z } from 'zod';
import { TASK_STATUSES } from '../../../registry/types.js';
import { defineMethod, id } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'UNIFIED_REGISTRY.update_task_progress',
  description: "Updates a task: status, progress (never decreasing), step, worker; false when unknown, already finished, or not the envelope user's task.",
  result: R.bool,
  args: z.object({
    task_id: id('task_id'),
    status: z.enum(TASK_STATUSES),
    progress_percent: z.number().min(0).max(100).nullish(),
    current_step: z.string().max(256).nullish(),
    worker_id: z.string().max(256).nullish(),
  }),
  handler: async (a, ctx) => {
    if (ctx.userId !== undefined) {
      // CONTRACT §13.8: a caller never changes another user's task.
      const doc = await ctx.deps.taskRegistry.getTaskRegistry(a.task_id);
      if (!doc || doc.task_info.user_id !== ctx.userId) return false;
    }
    const outcome = await ctx.deps.taskRegistry.updateTaskProgress({
      taskId: a.task_id,
      status: a.status,
      progressPercent: a.progress_percent ?? null,
      ...(a.current_step != null ? { currentStep: a.current_step } : {}),
      ...(a.worker_id != null ? { workerId: a.worker_id } : {}),
    });
    return outcome === 'updated';
  },
});
