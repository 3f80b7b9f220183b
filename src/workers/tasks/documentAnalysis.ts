import { z } from 'zod';
import { extractInvoice } from '../extract/invoice.js';
import { defineTask } from './types.js';

const MAX_CHARS = 2_000_000;

/** `document_data` of TASK.start_document_analysis: the RPC argument and the worker's payload are this one schema. */
export const documentData = z.looseObject(
  {
    content: z
      .string({ error: (i) => (i.input === undefined ? 'document_data.content is required (the document text)' : 'document_data.content must be text') })
      .refine((s) => s.trim().length > 0, 'document_data.content is empty')
      .refine((s) => s.length <= MAX_CHARS, `document_data.content is longer than ${MAX_CHARS} characters`),
    file_name: z.string().optional(),
    mime_type: z.string().optional(),
  },
  { error: (i) => (i.input === undefined ? 'document_data is required' : 'document_data must be an object') },
);

const payload = z.object({
  job_id: z.string(),
  document_data: documentData,
});

/** Invoice extraction over `document_data.content` (text): amounts, number, dates, VAT, ids, parties. */
export default defineTask({
  name: 'document_analysis',
  queue: 'computation',
  tracked: true,
  options: { attempts: 3, backoffMs: 2000, maxDurationSeconds: 600, priority: 'normal' },
  payload,
  async process(input, ctx) {
    const text = input.document_data.content;
    await ctx.progress(10, 'reading', { characters: text.length });
    ctx.checkpoint();
    const extraction = extractInvoice(text);
    await ctx.progress(90, 'extracted', { fields_found: extraction.fields_found });
    return {
      job_id: input.job_id,
      file_name: input.document_data.file_name ?? null,
      characters: text.length,
      ...extraction,
    };
  },
});
