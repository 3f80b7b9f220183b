/**
 * Vectors per company and collection in Redis (CONTRACT §13.8: a company never reads or
 * overwrites another's): `keys.vectors(company, collection)` hash docId → base64 Float32 embedding;
 * `keys.vectorsMeta(company, collection)` hash with the method, dimensions, counts, and `doc:{id}` → JSON
 * {preview, metadata}. Nearest neighbours by cosine read the one hash with HSCAN (never a
 * keyspace scan) and keep the top k.
 */
import type { RedisClient } from '../shared/redis.js';
import { keys } from '../shared/keys.js';
import { dropReserved } from '../registry/hashDoc.js';
import { cosine, embed, EMBEDDING_DIMS, EMBEDDING_METHOD, fromBase64, toBase64 } from './embeddings.js';

export interface StoredDoc {
  id: string;
  vector: Float32Array;
  preview: string;
  metadata: Record<string, unknown> | null;
}

export interface Neighbour {
  id: string;
  score: number;
  preview: string | null;
  metadata: Record<string, unknown> | null;
}

export class VectorStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly companyId: string,
  ) {}

  private data(collection: string): string {
    return keys.vectors(this.companyId, collection);
  }

  private meta(collection: string): string {
    return keys.vectorsMeta(this.companyId, collection);
  }

  /** Stores a batch; answers the collection's size after it (read in the same round trip). */
  async put(collection: string, docs: readonly StoredDoc[]): Promise<number> {
    if (docs.length === 0) return this.redis.hlen(this.data(collection));
    const vectors = new Map<string, string>();
    const meta = new Map<string, string>();
    for (const d of docs) {
      vectors.set(d.id, toBase64(d.vector));
      meta.set(`doc:${d.id}`, JSON.stringify({ preview: d.preview, metadata: d.metadata }));
    }
    // HLEN after HSET on the same key: same node, same connection, so it counts this batch.
    const [, , count] = await Promise.all([this.redis.hset(this.data(collection), vectors), this.redis.hset(this.meta(collection), meta), this.redis.hlen(this.data(collection))]);
    return count;
  }

  /** Records the collection's metadata; `count` is the size the last put() answered. */
  async finish(collection: string, count: number, info: Record<string, string | number>): Promise<number> {
    const fields: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, { method: EMBEDDING_METHOD, dims: String(EMBEDDING_DIMS), count: String(count), updated_at: new Date().toISOString() });
    for (const [k, v] of Object.entries(info)) fields[k] = String(v);
    await this.redis.hset(this.meta(collection), fields);
    return count;
  }

  async query(collection: string, text: string, topK: number): Promise<Neighbour[]> {
    const q = embed(text);
    const best: Array<{ id: string; score: number }> = [];
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.hscan(this.data(collection), cursor, 'COUNT', 500);
      cursor = next;
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const score = cosine(q, fromBase64(flat[i + 1]!));
        if (best.length < topK || score > best[best.length - 1]!.score) {
          best.push({ id: flat[i]!, score });
          best.sort((a, b) => b.score - a.score);
          if (best.length > topK) best.pop();
        }
      }
    } while (cursor !== '0');
    if (best.length === 0) return [];
    const metas = await this.redis.hmget(this.meta(collection), ...best.map((b) => `doc:${b.id}`));
    return best.map((b, i) => {
      // The reviver drops reserved keys from metadata stored before they were refused.
      const m = metas[i] ? (JSON.parse(metas[i], dropReserved) as { preview?: string; metadata?: Record<string, unknown> | null }) : {};
      return { id: b.id, score: Math.round(b.score * 1e6) / 1e6, preview: m.preview ?? null, metadata: m.metadata ?? null };
    });
  }
}
