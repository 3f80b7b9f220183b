import { z } from 'zod';
import { TASK_STATUSES } from '../../../registry/types.js';
import { defineMethod, id } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'UNIFIED_REGISTRY.update_task_progress',
  description: 'Updates a task: status, progress (never decreasing), step, worker; false when unknown or already finished.',
  result: R.bool,
  args: z.object({
    task_id: id('task_id'),
    status: z.enum(TASK_STATUSES),
    progress_percent: z.number().min(0).max(100).nullish(),
    current_step: z.string().max(256).nullish(),
    worker_id: z.string().max(256).nullish(),
  }),
  handler: async (a, ctx) => {
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
