import { z } from 'zod';
import { defineMethod, id, optionalId } from '../types.js';
import { taskService } from '../services.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'TASK.start_vector_computation',
  result: R.startVectorComputation,
  description: "Queues embeddings of documents into the company's collection (company_id defaults to \"default\"); task_id = embeddings_{collection_name}; CONFLICT when that id is another user's task.",
  args: z.object({
    user_id: id('user_id'),
    documents: z.array(z.unknown(), { error: 'documents must be an array' }).min(1, 'documents must not be empty').max(10000),
    collection_name: id('collection_name'),
    company_id: optionalId('company_id'),
  }),
  handler: (a, ctx) => taskService(ctx.deps).startVectorComputation(a),
});
