import { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import type { ServiceDeps } from '../../app/deps.js';
import { reservedKeyIn } from '../../shared/safeKeys.js';

export interface MethodContext {
  /** Caller context from the envelope (logged; `user_id` params default to it). */
  userId: string | undefined;
  sessionId: string | undefined;
  traceId: string;
  logger: Logger;
  /** Aborted when `timeout_ms` passes: long handlers should stop early. */
  signal: AbortSignal;
  deps: ServiceDeps;
}

export interface RpcMethod<S extends z.ZodObject = z.ZodObject> {
  /** `NAMESPACE.name` as clients call it. */
  readonly name: string;
  readonly description: string;
  /** Keyword schema; its key order is the positional order. */
  readonly args: S;
  /** Read-only methods skip idempotency (CONTRACT §3). Defaults to the `get_/list_/check_` rule. */
  readonly readOnly?: boolean;
  /** Shape of a successful answer's `data`, for the OpenAPI document (documentation only, never enforced). */
  readonly result?: z.ZodType;
  /**
   * Writes that are idempotent by nature and whose replayed answer would be wrong (heartbeats,
   * registrations the Reflex side repeats with a deterministic key, CONTRACT §13): they run every
   * time, without the idempotency store.
   */
  readonly skipIdempotency?: boolean;
  handler(args: z.infer<S>, ctx: MethodContext): Promise<unknown>;
}

export function defineMethod<S extends z.ZodObject>(m: RpcMethod<S>): RpcMethod<S> {
  return m;
}

/**
 * Identifiers end up in Redis keys, channel names, Firestore document ids and object keys:
 * printable, no separators (`:` `/`), no hash-tag braces, no whitespace, and never a reserved name
 * (`__proto__`, `constructor`, `prototype`, also as a dotted segment such as `a.__proto__`).
 */
export const id = (what: string) =>
  z
    .string({ error: (i) => (i.input === undefined ? `${what} is required` : `${what} must be a string`) })
    .min(1, `${what} must not be empty`)
    .max(128, `${what} must be at most 128 characters`)
    .regex(/^[A-Za-z0-9_.@+=-]+$/, `${what} may contain only letters, digits and _ . @ + = -`)
    .refine((v) => reservedKeyIn(v) === undefined, { error: (i) => `${what} must not be or contain the reserved name "${reservedKeyIn(String(i.input))}"` });

export const optionalId = (what: string) => id(what).nullish().transform((v) => v ?? null);
