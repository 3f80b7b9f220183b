import { unavailable } from '../../shared/errors.js';
import type { ListenerService, ServiceDeps, TaskService } from '../../app/deps.js';

/** The task service of this process, or UNAVAILABLE when the role does not wire one. */
export function taskService(deps: ServiceDeps): TaskService {
  if (!deps.tasks) throw unavailable('background tasks are not available on this instance');
  return deps.tasks;
}

export function listenerService(deps: ServiceDeps): ListenerService {
  if (!deps.listeners) throw unavailable('listeners are not available on this instance');
  return deps.listeners;
}
