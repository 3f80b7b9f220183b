/**
 * A JSON document stored as a Redis HASH whose fields are JSON-encoded paths (`["services","llm",
 * "model_preferences"]`) and whose values are JSON. Writers touch only their own fields with HSET,
 * which Redis applies atomically: concurrent writers to different fields never lose an update, and
 * no read-modify-write of a whole blob exists (CONTRACT §12).
 */
export type Path = readonly string[];

export const field = (...path: Path): string => JSON.stringify(path);

export function flatten(prefix: Path, obj: Record<string, unknown>, out: Record<string, string> = {}): Record<string, string> {
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined) continue;
    out[field(...prefix, k)] = JSON.stringify(v);
  }
  return out;
}

/** Rebuilds the nested document from HGETALL output; malformed fields are skipped. */
export function assemble(hash: Record<string, string>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [f, raw] of Object.entries(hash)) {
    let path: unknown;
    let value: unknown;
    try {
      path = JSON.parse(f);
      value = JSON.parse(raw);
    } catch {
      continue;
    }
    if (!Array.isArray(path) || path.length === 0 || !path.every((p) => typeof p === 'string')) continue;
    let node = root;
    for (let i = 0; i < path.length - 1; i++) {
      const key = path[i] as string;
      const next = node[key];
      if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1] as string] = value;
  }
  return root;
}
