/**
 * A JSON document stored as a Redis HASH whose fields are JSON-encoded paths (`["services","llm",
 * "model_preferences"]`) and whose values are JSON. Writers touch only their own fields with HSET,
 * which Redis applies atomically: concurrent writers to different fields never lose an update, and
 * no read-modify-write of a whole blob exists (CONTRACT §12).
 */
import { invalidArgs } from '../shared/errors.js';
import { dict, isReservedKey } from '../shared/safeKeys.js';

export type Path = readonly string[];

export const field = (...path: Path): string => JSON.stringify(path);

export function flatten(prefix: Path, obj: Record<string, unknown>, out: Record<string, string> = {}): Record<string, string> {
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined) continue;
    // Defence in depth: callers validate names first; a reserved one must never be stored.
    if (isReservedKey(k)) throw invalidArgs(`"${k}" is a reserved name (__proto__, constructor, prototype) and cannot be a field name`, { argument: k });
    out[field(...prefix, k)] = JSON.stringify(v);
  }
  return out;
}

/** JSON.parse reviver dropping reserved keys (`__proto__`, `constructor`, `prototype`) at any depth. */
export const dropReserved = (key: string, value: unknown): unknown => (key !== '' && isReservedKey(key) ? undefined : value);

/**
 * Rebuilds the nested document from HGETALL output; malformed fields are skipped, and so is any
 * field whose path or value names a reserved key (data stored before such names were refused must
 * not reach `Object.prototype`). Every object built here has a null prototype.
 */
export function assemble(hash: Record<string, string>): Record<string, unknown> {
  const root = dict();
  for (const [f, raw] of Object.entries(hash)) {
    let path: unknown;
    let value: unknown;
    try {
      path = JSON.parse(f);
      value = JSON.parse(raw, dropReserved);
    } catch {
      continue;
    }
    if (!Array.isArray(path) || path.length === 0 || !path.every((p) => typeof p === 'string' && !isReservedKey(p))) continue;
    let node = root;
    for (let i = 0; i < path.length - 1; i++) {
      const key = path[i] as string;
      const next = Object.hasOwn(node, key) ? node[key] : undefined;
      if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = dict();
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1] as string] = value;
  }
  return root;
}
