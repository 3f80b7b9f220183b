import { z } from 'zod';
import { TaskError } from '../errors.js';
import { chatCompletion } from '../llmClient.js';
import { defineTask } from './types.js';

const payload = z.object({
  conversation_id: z.string(),
  company_id: z.string(),
  prompt: z.string().refine((s) => s.trim().length > 0, 'prompt is empty'),
  model: z.string().nullable(),
  temperature: z.number().min(0).max(2),
});

/** A chat completion on the configured OpenAI-compatible endpoint (LLM_BASE_URL). */
export default defineTask({
  name: 'llm_conversation',
  queue: 'llm',
  tracked: true,
  options: { attempts: 4, backoffMs: 1000, maxDurationSeconds: 300, priority: 'normal' },
  payload,
  async process(input, ctx) {
    const settings = ctx.deps.service.config.llm;
    const model = input.model ?? settings.model;
    if (!settings.baseUrl) throw new TaskError('LLM_NOT_CONFIGURED', 'no LLM endpoint is configured (LLM_BASE_URL); the conversation was not sent', false);
    await ctx.progress(10, 'calling_model', { model });
    const res = await chatCompletion({
      settings,
      model,
      temperature: input.temperature,
      messages: [{ role: 'user', content: input.prompt }],
      signal: ctx.signal,
    });
    await ctx.progress(90, 'reply_received', { model: res.model });
    return { conversation_id: input.conversation_id, reply: res.reply, model: res.model, usage: res.usage, finish_reason: res.finish_reason };
  },
});
