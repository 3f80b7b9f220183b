/**
 * Names a caller or a stored document may not use as an object key: assigning through them changes
 * an object's prototype (`__proto__`) or shadows what every object inherits (`constructor`,
 * `prototype`). Refused wherever a caller names a field, skipped wherever stored data is read back.
 */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Separators a reader might split a name on (dotted field paths, URL-ish paths, brackets). */
const SEGMENT_SPLIT = /[./\\[\]]+/;

/** The forms a reader could decode `name` into: itself, NFKC, percent-decoded, each path segment. */
function readings(name: string): string[] {
  const out = new Set<string>([name, name.normalize('NFKC')]);
  if (name.includes('%')) {
    try {
      out.add(decodeURIComponent(name));
    } catch {
      // not valid percent-encoding: nothing decodes it
    }
  }
  for (const form of [...out]) {
    for (const seg of form.split(SEGMENT_SPLIT)) out.add(seg);
  }
  return [...out];
}

/**
 * The reserved name `name` amounts to, or undefined. Case-insensitive and trimmed, so that a reader
 * that lowercases or trims keys cannot turn an accepted name into a reserved one.
 */
export function reservedKeyIn(name: string): string | undefined {
  // Fast path for the common plain name: nothing to decode, split or normalise.
  if (/^[A-Za-z0-9_-]*$/.test(name)) {
    const k = name.toLowerCase();
    return RESERVED_KEYS.has(k) ? k : undefined;
  }
  for (const r of readings(name)) {
    const k = r.trim().toLowerCase();
    if (RESERVED_KEYS.has(k)) return k;
  }
  return undefined;
}

export const isReservedKey = (name: string): boolean => reservedKeyIn(name) !== undefined;

/** Exactly a reserved name (no decoding): for skipping keys of data read back from storage. */
export const isExactlyReserved = (name: string): boolean => RESERVED_KEYS.has(name);

/**
 * The path (`a.b[2].c`) of the first object key at any depth of `value` that is reserved, or
 * undefined. Iterative and bounded by the request's depth limit already checked by the router.
 */
export function findReservedKey(value: unknown, root: string): { path: string; key: string; reserved: string } | undefined {
  // Paths are only built for the answer: each visited node remembers its parent and its key.
  const nodes: Array<{ parent: number; key: string | number }> = [];
  const stack: Array<[unknown, number]> = [[value, -1]];
  const seen = new Map<string, string | undefined>(); // keys repeat (metadata of many documents)
  const pathOf = (at: number): string => {
    const parts: string[] = [];
    for (let i = at; i >= 0; i = nodes[i]!.parent) {
      const k = nodes[i]!.key;
      parts.push(typeof k === 'number' ? `[${k}]` : `.${k}`);
    }
    return root + parts.reverse().join('');
  };
  while (stack.length > 0) {
    const [v, at] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        if (item === null || typeof item !== 'object') continue;
        nodes.push({ parent: at, key: i });
        stack.push([item, nodes.length - 1]);
      }
      continue;
    }
    // Reflect.ownKeys: an own `__proto__` key (JSON.parse makes one) is listed like any other.
    for (const k of Reflect.ownKeys(v)) {
      if (typeof k !== 'string') continue;
      let reserved = seen.get(k);
      if (reserved === undefined && !seen.has(k)) {
        reserved = reservedKeyIn(k);
        seen.set(k, reserved);
      }
      if (reserved) return { path: pathOf(at), key: k, reserved };
      const child = (v as Record<string, unknown>)[k];
      if (child === null || typeof child !== 'object') continue;
      nodes.push({ parent: at, key: k });
      stack.push([child, nodes.length - 1]);
    }
  }
  return undefined;
}

/** A null-prototype object: safe to index with any string. */
export function dict<T = unknown>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

const isPlain = (v: object): boolean => {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === null || proto === Object.prototype;
};

/**
 * A copy of `value` in which every plain object is null-prototype and has no reserved key (at any
 * depth); arrays are copied, anything else (dates, Firestore Timestamps) is kept as is. For data
 * read back from storage that may predate the refusal of reserved names.
 */
export function scrub<T>(value: T, depth = 0): T {
  if (value === null || typeof value !== 'object' || depth > 100) return value;
  if (Array.isArray(value)) return (value as unknown[]).map((v) => scrub(v, depth + 1)) as T;
  if (!isPlain(value)) return value;
  const out = dict();
  for (const k of Object.keys(value)) {
    if (isReservedKey(k)) continue;
    out[k] = scrub((value as Record<string, unknown>)[k], depth + 1);
  }
  return out as T;
}
