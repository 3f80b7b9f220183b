/**
 * The admin pages mounted by the gateway: the operator console (src/console/routes.ts) behind the
 * admin sign-in (src/console/auth.ts). The queue dashboard at /admin/queues is mounted by the
 * composition root (src/api/dashboard.ts).
 */
import type { FastifyInstance } from 'fastify';
import { registerConsole } from '../console/routes.js';
import type { Core } from '../core.js';

/**
 * GET /admin (the console) and its API, behind the admin sign-in. The socket path is kept for
 * callers that still pass it (the console itself uses server-sent events under /admin).
 */
export function registerAdminPage(app: FastifyInstance, o: { core: Core; socketPath?: string }): void {
  registerConsole(app, { core: o.core });
}
