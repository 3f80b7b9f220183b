import type { RoleContext } from '../roles.js';

/**
 * PLACEHOLDER (issue 5 replaces this file): socket.io gateway with the Redis adapter, raw /ws,
 * socket presence, /admin status page. Called before the app listens (api/all roles).
 */
export async function attachGateway(_ctx: RoleContext): Promise<void> {}
