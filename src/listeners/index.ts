import type { RoleContext } from '../roles.js';

/**
 * PLACEHOLDER (issue 4 replaces this file): presence watcher, per-user watchers, leases;
 * sets core.deps.listeners and core.deps.listenerCounts (api/all roles, LISTENERS_ENABLED).
 */
export async function startListeners(_ctx: RoleContext): Promise<void> {}
