import { z } from 'zod';
import { embed, EMBEDDING_DIMS, EMBEDDING_METHOD } from '../embeddings.js';
import { invalidInput } from '../errors.js';
import { VectorStore, type StoredDoc } from '../vectorStore.js';
import { defineTask } from './types.js';

export const VECTOR_BATCH_SIZE = 50;

const payload = z.object({ collection_name: z.string().min(1), documents: z.array(z.unknown()).min(1, 'documents is empty') });

interface Parsed {
  docs: Array<{ id: string; text: string; metadata: Record<string, unknown> | null }>;
  skipped: Array<{ index: number; reason: string }>;
}

/** Accepts strings or objects `{id|doc_id, text|content|page_content, metadata}`. */
export function parseDocuments(items: readonly unknown[]): Parsed {
  const out: Parsed = { docs: [], skipped: [] };
  const seen = new Set<string>();
  items.forEach((item, index) => {
    const o = typeof item === 'string' ? { text: item } : item && typeof item === 'object' && !Array.isArray(item) ? (item as Record<string, unknown>) : null;
    if (!o) return out.skipped.push({ index, reason: 'not a string or an object' });
    const text = [o.text, o.content, o.page_content].find((t): t is string => typeof t === 'string');
    if (!text || !/[\p{L}\p{N}]/u.test(text)) return out.skipped.push({ index, reason: 'no text (text, content or page_content)' });
    const rawId = o.id ?? o.doc_id;
    const id = typeof rawId === 'string' || typeof rawId === 'number' ? String(rawId) : `doc_${index}`;
    if (seen.has(id)) return out.skipped.push({ index, reason: `duplicate id ${id}` });
    seen.add(id);
    const metadata = o.metadata && typeof o.metadata === 'object' && !Array.isArray(o.metadata) ? (o.metadata as Record<string, unknown>) : null;
    out.docs.push({ id, text, metadata });
  });
  return out;
}

/**
 * Embeds documents by feature hashing (see embeddings.ts) into the collection's Redis hash, batch by
 * batch: progress after each batch, cancellation and the time limit checked before each.
 */
export default defineTask({
  name: 'vector_computation',
  queue: 'computation',
  tracked: true,
  options: { attempts: 3, backoffMs: 2000, maxDurationSeconds: 1800, priority: 'normal' },
  payload,
  async process(input, ctx) {
    const { docs, skipped } = parseDocuments(input.documents);
    if (docs.length === 0) throw invalidInput(`no document has text to embed (${skipped.length} skipped: ${skipped[0]?.reason ?? 'none'})`);
    const store = new VectorStore(ctx.deps.service.redis, ctx.companyId);
    await ctx.progress(5, 'embedding', { done: 0, total: docs.length });
    let size = 0;
    for (let i = 0; i < docs.length; i += VECTOR_BATCH_SIZE) {
      ctx.checkpoint();
      const batch: StoredDoc[] = docs.slice(i, i + VECTOR_BATCH_SIZE).map((d) => ({ id: d.id, vector: embed(d.text), preview: d.text.slice(0, 200), metadata: d.metadata }));
      size = await store.put(input.collection_name, batch);
      const done = Math.min(docs.length, i + VECTOR_BATCH_SIZE);
      await ctx.progress(5 + Math.floor((90 * done) / docs.length), 'embedding', { done, total: docs.length });
    }
    ctx.checkpoint();
    const count = await store.finish(input.collection_name, size, { last_task_id: ctx.taskId });
    return { collection_name: input.collection_name, company_id: ctx.companyId, method: EMBEDDING_METHOD, dims: EMBEDDING_DIMS, embedded: docs.length, skipped, collection_count: count };
  },
});
