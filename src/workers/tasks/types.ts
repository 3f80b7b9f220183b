import type { z } from 'zod';
import type { QueueName } from '../../config/schema.js';
import type { ServiceDeps } from '../../app/deps.js';
import type { Logger } from '../../shared/logger.js';
import type { RedisClient } from '../../shared/redis.js';

/** company_id when a caller gives none (document analysis and vector computation make it optional). */
export const DEFAULT_COMPANY_ID = 'default';

/** What a processor may use: the service deps of its process and the queue Redis. */
export interface TaskDeps {
  service: ServiceDeps;
  queueRedis: RedisClient;
}

/** Handed to a processor for one attempt; it knows nothing about BullMQ's Job. */
export interface TaskRunContext {
  taskId: string;
  /** The user the task belongs to (user tasks only). */
  userId: string | undefined;
  /** The company the task runs for (user tasks; DEFAULT_COMPANY_ID when none was given). */
  companyId: string;
  attempt: number;
  deps: TaskDeps;
  logger: Logger;
  /** Aborted on cancel, time limit or worker shutdown; pass it to fetch and check it between steps. */
  signal: AbortSignal;
  /** Throws the abort reason (CANCELLED / TIMEOUT) when the signal was aborted. */
  checkpoint(): void;
  /**
   * Records progress (never decreasing) and publishes a `processing` event. Pipelined one deep: it
   * resolves once the previous report was answered (throwing CANCELLED if that one found the task
   * ended), so the work after a report goes out with it; the runner waits for the last report
   * before the task completes.
   */
  progress(percent: number, step: string, data?: Record<string, unknown>): Promise<void>;
}

export interface TaskKindOptions {
  attempts: number;
  /** First retry delay; BullMQ doubles it each attempt (exponential backoff). */
  backoffMs: number;
  /** Per-attempt time limit (seconds); also the registry's max_duration. */
  maxDurationSeconds: number;
  priority: 'low' | 'normal' | 'high';
}

/**
 * One task kind (DESIGN habit 5): name, queue, retry/time-limit options, payload schema, processor.
 * `tracked` kinds are user tasks (registry document + `task.progress_update` events); maintenance
 * kinds run from the scheduler and report through logs and their job result.
 */
export interface TaskKind<I = unknown, R = unknown> {
  readonly name: string;
  readonly queue: QueueName;
  readonly tracked: boolean;
  readonly options: TaskKindOptions;
  readonly payload: z.ZodType<I>;
  process(input: I, ctx: TaskRunContext): Promise<R>;
}

/**
 * A task kind of any payload type: the list of kinds is heterogeneous, and each payload is checked
 * by its own `kind.payload` schema before `process` sees it, so the input type is erased here.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- payload types differ per kind; validated at run time by kind.payload
export type AnyTaskKind = TaskKind<any, unknown>;

export function defineTask<I, R>(k: TaskKind<I, R>): TaskKind<I, R> {
  return k;
}
