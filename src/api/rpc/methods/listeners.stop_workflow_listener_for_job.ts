import { z } from 'zod';
import { defineMethod, id } from '../types.js';
import { listenerService } from '../services.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'LISTENERS.stop_workflow_listener_for_job',
  description: 'Stops the workflow watcher of a job.',
  result: R.bool,
  args: z.object({ user_id: id('user_id'), job_id: id('job_id') }),
  handler: (a, ctx) => listenerService(ctx.deps).stopWorkflowListenerForJob(a.user_id, a.job_id),
});
