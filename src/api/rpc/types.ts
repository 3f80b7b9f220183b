import { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import type { ServiceDeps } from '../deps.js';

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
 * Identifiers end up in Redis keys, channel names and Firestore document ids: printable, no
 * separators (`:` `/`), no hash-tag braces, no whitespace.
 */
export const id = (what: string) =>
  z
    .string({ error: (i) => (i.input === undefined ? `${what} is required` : `${what} must be a string`) })
    .min(1, `${what} must not be empty`)
    .max(128, `${what} must be at most 128 characters`)
    .regex(/^[A-Za-z0-9_.@+=-]+$/, `${what} may contain only letters, digits and _ . @ + = -`);

export const optionalId = (what: string) => id(what).nullish().transform((v) => v ?? null);
