import { z } from 'zod';
import { defineMethod, id } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'UNIFIED_REGISTRY.get_task_registry',
  description: 'The task document, or null.',
  result: R.taskDocument.nullable(),
  args: z.object({ task_id: id('task_id') }),
  handler: (a, ctx) => ctx.deps.taskRegistry.getTaskRegistry(a.task_id),
});
