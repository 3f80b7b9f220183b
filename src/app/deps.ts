import type { Firestore } from 'firebase-admin/firestore';
import type { Config } from '../config/schema.js';
import type { EventPublisher } from '../shared/events.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { RedisClient } from '../shared/redis.js';
import type { RegistryRouter } from '../registry/router.js';
import type { TaskRegistry } from '../registry/types.js';
import type { RegistryModeDecider } from '../flags/registryMode.js';

/**
 * Enqueues and controls background tasks (implemented in src/workers; CONTRACT §4 TASK.*).
 * Methods return the contract's result objects.
 */
export type TaskCallers = ReadonlyArray<string | null | undefined>;

export interface TaskService {
  startDocumentAnalysis(a: { user_id: string; document_data: Record<string, unknown>; job_id: string; company_id?: string | null }): Promise<Record<string, unknown>>;
  startVectorComputation(a: { user_id: string; documents: unknown[]; collection_name: string; company_id?: string | null }): Promise<Record<string, unknown>>;
  startLlmConversation(a: { user_id: string; company_id: string; prompt: string; conversation_id: string | null; model: string | null; temperature: number }): Promise<Record<string, unknown>>;
  /**
   * `callers`: user ids that must each be the task's owner (the envelope's `user_id`, an argument
   * `user_id`; null/undefined ones are ignored). Another user's task is NOT_FOUND (CONTRACT §13.8).
   */
  getTaskStatus(taskId: string, callers?: TaskCallers): Promise<Record<string, unknown>>;
  cancelTask(taskId: string, callers?: TaskCallers): Promise<Record<string, unknown>>;
  /** Only tasks owned by `userId`; NOT_FOUND when a caller id differs from `userId`. */
  listUserTasks(userId: string, status: string | null, callers?: TaskCallers): Promise<Array<Record<string, unknown>>>;
  queryVectors?(a: { collection_name: string; query: string; top_k: number; company_id?: string | null }): Promise<Array<Record<string, unknown>>>;
}

/** Listener bookkeeping and on-demand watchers (implemented in src/listeners; CONTRACT §4, §7). */
export interface ListenerService {
  checkListenerStatus(a: ListenerArgs): Promise<Record<string, unknown>>;
  registerListener(a: ListenerArgs & { mode: string | null }): Promise<Record<string, unknown>>;
  unregisterListener(a: ListenerArgs): Promise<Record<string, unknown>>;
  updateListenerHeartbeat(a: ListenerArgs): Promise<boolean>;
  listUserListeners(a: { user_id: string; include_expired: boolean }): Promise<Record<string, unknown>>;
  cleanupUserListeners(a: { user_id: string; listener_types: string[] | null }): Promise<Record<string, unknown>>;
  startWorkflowListenerForJob(userId: string, jobId: string): Promise<boolean>;
  stopWorkflowListenerForJob(userId: string, jobId: string): Promise<boolean>;
  /** Removes listeners whose heartbeat is older than the TTL and stops their watchers; returns how many (scheduler job `listener_expiry`). */
  expireStaleListeners?(): Promise<number>;
}

export interface ListenerArgs {
  user_id: string;
  /** chat | notif | msg | workflow (register_listener refuses others with INVALID_LISTENER_TYPE). */
  listener_type: string;
  space_code: string | null;
  thread_key: string | null;
}

/** Health of one dependency for /healthz, /readyz and /debug. */
export interface DependencyCheck {
  name: string;
  /** Required dependencies make /readyz fail; optional ones only mark /healthz degraded. */
  required: boolean;
  check(): Promise<{ ok: boolean; detail?: string; latency_ms?: number }>;
}

/**
 * Everything a request handler or task may use, built once by `createCore` (src/core.ts) and never
 * assigned afterwards: the optional parts are absent when this process does not run them.
 */
export interface ServiceDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly redis: RedisClient;
  readonly firestore: Firestore | undefined;
  readonly registry: RegistryRouter;
  readonly taskRegistry: TaskRegistry;
  readonly decider: RegistryModeDecider;
  readonly publisher: EventPublisher;
  /** TASK.* (absent when this process was built without the queues). */
  readonly tasks?: TaskService;
  /** REGISTRY.*listener* and LISTENERS.* (absent when built without the listener bookkeeping). */
  readonly listeners?: ListenerService;
  /** Health checks (main Redis, queue Redis, Firestore, listeners…) of the parts this process runs. */
  readonly checks: readonly DependencyCheck[];
  /** Counts for /healthz when the listener watchers run in this process. */
  readonly listenerCounts?: () => { listeners_count: number; workflow_listeners_count: number };
  readonly startedAt: number;
}

/** The connections and registries every part is built from (ServiceDeps without the optional services and the checks). */
export type BaseDeps = Omit<ServiceDeps, 'tasks' | 'listeners' | 'checks' | 'listenerCounts'>;
