import { z } from 'zod';
import { defineMethod, id, optionalId } from '../types.js';
import { taskService } from '../services.js';

export default defineMethod({
  name: 'TASK.start_document_analysis',
  description: "Queues invoice extraction over document_data.content; task_id = doc_analysis_{job_id}; CONFLICT when that id is another user's task.",
  args: z.object({
    user_id: id('user_id'),
    document_data: z.record(z.string(), z.unknown(), { error: 'document_data must be an object' }),
    job_id: id('job_id'),
    company_id: optionalId('company_id'),
  }),
  handler: (a, ctx) => taskService(ctx.deps).startDocumentAnalysis(a),
});
