/**
 * The queue dashboard (@bull-board) at `/admin/queues`, behind the service token. Browsers cannot
 * send a bearer header, so `?token=<service token>` is also accepted once: it sets an HttpOnly,
 * SameSite=Strict cookie scoped to the dashboard path holding an HMAC of the token (never the token)
 * and redirects to the same URL without the token. API clients keep using the bearer header.
 */
import { createHmac } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { assertServiceToken, tokenMatches } from '../api/auth.js';
import { AppError, toErrorBody } from '../shared/errors.js';
import type { Queue } from 'bullmq';

export const DASHBOARD_PATH = '/admin/queues';
const COOKIE = 'pinnokio_admin';

const cookieValue = (token: string) => createHmac('sha256', token).update('pinnokio-admin-queues-v1').digest('base64url');

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

export function dashboardAuth(expected: string | undefined) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      if (expected && tokenMatches(readCookie(req.headers.cookie, COOKIE), cookieValue(expected))) return;
      const url = new URL(req.url, 'http://local');
      const q = url.searchParams.get('token');
      if (q !== null) {
        assertServiceToken(`Bearer ${q}`, expected);
        url.searchParams.delete('token');
        const secure = req.protocol === 'https' ? '; Secure' : '';
        reply.header('set-cookie', `${COOKIE}=${cookieValue(expected!)}; Path=${DASHBOARD_PATH}; HttpOnly; SameSite=Strict; Max-Age=43200${secure}`);
        return reply.redirect(`${url.pathname}${url.search}`, 303);
      }
      assertServiceToken(req.headers.authorization, expected);
    } catch (err) {
      const e = err instanceof AppError ? err : new AppError('UNAUTHORIZED', 'unauthorized', undefined, 401);
      return reply.code(e.httpStatus).send({ ok: false, error: toErrorBody(e) });
    }
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
