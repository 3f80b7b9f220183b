/**
 * Deterministic text embeddings without a model download (pure): feature hashing ("the hashing
 * trick") over normalised tokens.
 *
 * 1. normalise: Unicode NFKD, strip combining accents, lowercase;
 * 2. tokens: runs of letters/digits; unigrams plus bigrams (`a_b`);
 * 3. each feature is hashed with FNV-1a (32 bit): `h mod dims` picks the dimension and a second
 *    hash bit picks the sign (+1/-1), which keeps collisions unbiased;
 * 4. weights are sublinear term frequencies (1 + ln tf), bigrams weighted 0.5;
 * 5. the vector is L2-normalised, so cosine similarity is a dot product.
 *
 * Same text → same vector on every machine and run (`EMBEDDING_METHOD` names the version).
 */
export const EMBEDDING_DIMS = 256;
export const EMBEDDING_METHOD = 'feature-hashing-fnv1a-v1';

export function normalise(text: string): string {
  return text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
}

export function tokens(text: string): string[] {
  return normalise(text).match(/[\p{L}\p{N}]+/gu) ?? [];
}

export function features(text: string): Map<string, number> {
  const toks = tokens(text);
  const tf = new Map<string, number>();
  toks.forEach((t, i) => {
    tf.set(t, (tf.get(t) ?? 0) + 1);
    const next = toks[i + 1];
    if (next !== undefined) tf.set(`${t}_${next}`, (tf.get(`${t}_${next}`) ?? 0) + 1);
  });
  return tf;
}

export function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The embedding of a text; a zero vector when the text has no token. */
export function embed(text: string, dims = EMBEDDING_DIMS): Float32Array {
  const v = new Float32Array(dims);
  for (const [f, count] of features(text)) {
    const weight = (1 + Math.log(count)) * (f.includes('_') ? 0.5 : 1);
    const idx = fnv1a(f) % dims;
    const sign = fnv1a(f, 0x9747b28c) & 1 ? 1 : -1;
    v[idx] = (v[idx] ?? 0) + sign * weight;
  }
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < dims; i++) v[i] = v[i]! / norm;
  return v;
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

export function toBase64(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

export function fromBase64(s: string): Float32Array {
  const buf = Buffer.from(s, 'base64');
  const out = new Float32Array(buf.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}
