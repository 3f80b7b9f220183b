/**
 * The queue dashboard (@bull-board) at `/admin/queues`, behind the admin sign-in shared with the
 * console (src/console/auth.ts): the HttpOnly, SameSite=Strict cookie with Path=/admin set by
 * signing in at /admin is valid here, `?token=<service token>` sets it too, and API clients keep
 * using the bearer header.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { adminDenial, checkAdmin } from '../console/auth.js';
import { toErrorBody } from '../shared/errors.js';
import type { Queue } from 'bullmq';

export const DASHBOARD_PATH = '/admin/queues';

export function dashboardAuth(expected: string | undefined) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const r = checkAdmin(req, reply, expected);
    if (r.kind === 'ok') return;
    if (r.kind === 'redirect') return reply.redirect(r.location, 303);
    const e = adminDenial(r);
    return reply.code(e.httpStatus).send({ ok: false, error: toErrorBody(e) });
  };
}

/** Mounts the dashboard; the app must not be started yet (register before listen/ready). */
export async function mountDashboard(app: FastifyInstance, queues: Queue[], serviceToken: string | undefined): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter, options: { uiConfig: { boardTitle: 'pinnokio queues' } } });
  await app.register(
    async (scope) => {
      scope.addHook('onRequest', dashboardAuth(serviceToken));
      await scope.register(serverAdapter.registerPlugin());
    },
    { prefix: DASHBOARD_PATH },
  );
}
