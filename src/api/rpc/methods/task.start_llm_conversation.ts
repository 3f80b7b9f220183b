import { z } from 'zod';
import { defineMethod, id, optionalId } from '../types.js';
import { taskService } from '../services.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'TASK.start_llm_conversation',
  result: R.startLlmConversation,
  description: "Queues a chat completion on the configured OpenAI-compatible endpoint; task_id = llm_{conversation_id}; CONFLICT when that id is another user's task.",
  args: z.object({
    user_id: id('user_id'),
    company_id: id('company_id'),
    prompt: z.string({ error: 'prompt must be a string' }).min(1, 'prompt must not be empty').max(200_000),
    conversation_id: optionalId('conversation_id'),
    model: z.string().max(128).nullish().transform((v) => v ?? null),
    temperature: z.number().min(0).max(2).default(0.7),
  }),
  handler: (a, ctx) => taskService(ctx.deps).startLlmConversation(a),
});
