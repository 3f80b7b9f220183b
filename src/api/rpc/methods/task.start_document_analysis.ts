import { z } from 'zod';
import { defineMethod, id, optionalId } from '../types.js';
import { taskService } from '../services.js';
import { documentData } from '../../../workers/tasks/documentAnalysis.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'TASK.start_document_analysis',
  result: R.startDocumentAnalysis,
  description: "Queues invoice extraction over document_data.content; task_id = doc_analysis_{job_id}; CONFLICT when that id is another user's task.",
  args: z.object({
    user_id: id('user_id'),
    // The worker's own payload schema: what the RPC accepts is what the task can run.
    document_data: documentData,
    job_id: id('job_id'),
    company_id: optionalId('company_id'),
  }),
  handler: (a, ctx) => taskService(ctx.deps).startDocumentAnalysis(a),
});
