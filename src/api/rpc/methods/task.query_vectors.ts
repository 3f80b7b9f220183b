import { z } from 'zod';
import { defineMethod, id, optionalId } from '../types.js';
import { taskService } from '../services.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'TASK.query_vectors',
  result: R.vectorHits,
  description: "Nearest documents of a company's collection (built by start_vector_computation) to a query text, by cosine similarity; company_id defaults to \"default\".",
  readOnly: true,
  args: z.object({
    collection_name: id('collection_name'),
    query: z.string({ error: 'query must be a string' }).min(1, 'query must not be empty').max(20_000),
    top_k: z.number().int().min(1).max(100).default(5),
    company_id: optionalId('company_id'),
  }),
  handler: (a, ctx) => {
    const svc = taskService(ctx.deps);
    if (!svc.queryVectors) throw new Error('vector queries are not wired on this instance');
    return svc.queryVectors(a);
  },
});
