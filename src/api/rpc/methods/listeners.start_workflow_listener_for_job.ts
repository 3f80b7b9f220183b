import { z } from 'zod';
import { defineMethod, id } from '../types.js';
import { listenerService } from '../services.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'LISTENERS.start_workflow_listener_for_job',
  description: "Starts watching a job's task_manager document for workflow events.",
  result: R.bool,
  args: z.object({ user_id: id('user_id'), job_id: id('job_id') }),
  handler: (a, ctx) => listenerService(ctx.deps).startWorkflowListenerForJob(a.user_id, a.job_id),
});
