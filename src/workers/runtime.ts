/**
 * The queues and the task service, built once by `createCore` (src/core.ts) when the process uses
 * background tasks (every role of main.ts), then handed to whoever needs them through `core.tasks`:
 * the workers, the scheduler, the queue dashboard and the operator console.
 */
import type { BaseDeps, DependencyCheck, TaskService } from '../app/deps.js';
import { PHASE } from '../app/phases.js';
import type { Lifecycle } from '../shared/lifecycle.js';
import { checkEvictionPolicy, createQueueSet, type QueueSet } from './queues.js';
import { createTaskService } from './taskService.js';

export interface TasksRuntime {
  readonly queues: QueueSet;
  /** TASK.* (becomes `deps.tasks`). */
  readonly service: TaskService;
  /** The optional queue Redis check (goes into `deps.checks`). */
  readonly check: DependencyCheck;
}

/** Opens the queues on the queue Redis (closed at PHASE.queues) and builds the task service on them. */
export function createTasks(o: { deps: BaseDeps; lifecycle: Lifecycle }): TasksRuntime {
  const { deps, lifecycle } = o;
  const logger = deps.logger.child({ component: 'tasks' });
  const queues = createQueueSet({ config: deps.config, logger });
  lifecycle.add(PHASE.queues, { name: 'queues', close: () => queues.close() });
  const service = createTaskService({ deps, queues });
  const check: DependencyCheck = {
    // Optional: a queue Redis outage makes TASK.* fail but the rest of the API keeps serving.
    name: 'queue_redis',
    required: false,
    async check() {
      return { ok: (await queues.connection.client.ping()) === 'PONG' };
    },
  };
  void checkEvictionPolicy(queues.connection.client, logger);
  return { queues, service, check };
}
