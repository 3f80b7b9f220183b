import { z } from 'zod';
import { invalidArgs } from '../../shared/errors.js';
import { dict, findReservedKey, reservedKeyIn } from '../../shared/safeKeys.js';
import type { RpcMethod } from './types.js';

/** Renders zod issues as "name: what was wrong" lines for INVALID_ARGS. */
export function describeIssues(error: z.ZodError): { message: string; details: Record<string, unknown> } {
  const problems = error.issues.map((i) => {
    const path = i.path.map(String).join('.') || '(arguments)';
    if (i.code === 'unrecognized_keys') return { argument: i.keys.join(', '), problem: `unknown argument(s): ${i.keys.join(', ')}` };
    return { argument: path, problem: i.message };
  });
  return {
    message: problems.map((p) => (p.problem.startsWith(p.argument) || p.problem.startsWith('unknown') ? p.problem : `${p.argument}: ${p.problem}`)).join('; '),
    details: { problems },
  };
}

/** Strict variants built once per method: zod compiles a schema on first use, so reuse matters. */
const strictSchemas = new WeakMap<RpcMethod, z.ZodType>();
function strictOf(method: RpcMethod): z.ZodType {
  let s = strictSchemas.get(method);
  if (!s) {
    s = method.args.strict();
    strictSchemas.set(method, s);
  }
  return s;
}

/**
 * Merges positional `args` and keyword `kwargs` by the schema's key order, then validates.
 * A name given both ways, too many positional values, or unknown keywords are INVALID_ARGS; so is
 * an object key anywhere in the arguments that is (or decodes to) `__proto__`, `constructor` or
 * `prototype`. The merged arguments are a null-prototype object: keyword names such as `toString`
 * are unknown arguments, not inherited members.
 */
export function bindArgs(method: RpcMethod, args: unknown[], kwargs: Record<string, unknown>, callerUserId: string | undefined): unknown {
  const names = Object.keys(method.args.shape);
  if (args.length > names.length) {
    throw invalidArgs(`${method.name} takes at most ${names.length} positional argument(s) (${names.join(', ') || 'none'}), got ${args.length}`);
  }
  const merged = dict();
  args.forEach((v, i) => {
    merged[names[i] as string] = v;
  });
  for (const k of Object.keys(kwargs)) {
    const reserved = reservedKeyIn(k);
    if (reserved) throw invalidArgs(`"${k}" is not an argument of ${method.name}: "${reserved}" is a reserved name`, { argument: k });
    if (Object.hasOwn(merged, k)) throw invalidArgs(`${k}: given both positionally and by keyword`, { argument: k });
    merged[k] = kwargs[k];
  }
  for (const name of Object.keys(merged)) {
    const bad = findReservedKey(merged[name], name);
    if (bad) {
      throw invalidArgs(`${bad.path}: key "${bad.key}" is not allowed ("${bad.reserved}" is a reserved name: __proto__, constructor and prototype cannot name a field)`, {
        argument: name,
        path: bad.path,
      });
    }
  }
  if (names.includes('user_id') && merged.user_id === undefined && callerUserId !== undefined) merged.user_id = callerUserId;
  const parsed = strictOf(method).safeParse(merged);
  if (!parsed.success) {
    const { message, details } = describeIssues(parsed.error);
    throw invalidArgs(message, details);
  }
  return parsed.data;
}

export function isReadOnly(method: RpcMethod): boolean {
  if (method.readOnly !== undefined) return method.readOnly;
  const short = method.name.split('.').pop() ?? '';
  return /^(get|list|check)_/.test(short);
}

/** For GET /rpc/methods: argument names, JSON types, required-ness. */
export function describeMethod(method: RpcMethod): Record<string, unknown> {
  const json = z.toJSONSchema(method.args, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, Record<string, unknown>>;
    required?: string[];
  };
  const required = new Set(json.required ?? []);
  return {
    name: method.name,
    description: method.description,
    read_only: isReadOnly(method),
    args: Object.keys(method.args.shape).map((name) => ({
      name,
      required: required.has(name),
      schema: json.properties?.[name] ?? {},
    })),
  };
}
