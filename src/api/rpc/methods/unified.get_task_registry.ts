import { z } from 'zod';
import { defineMethod, id } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'UNIFIED_REGISTRY.get_task_registry',
  description: "The task document, or null (also when the envelope's user_id is not the task's owner).",
  result: R.taskDocument.nullable(),
  args: z.object({ task_id: id('task_id') }),
  handler: async (a, ctx) => {
    const doc = await ctx.deps.taskRegistry.getTaskRegistry(a.task_id);
    // CONTRACT §13.8: another user's task is never returned.
    return doc && (ctx.userId === undefined || doc.task_info.user_id === ctx.userId) ? doc : null;
  },
});
