/**
 * Admin sign-in shared by every page under `/admin` (the console, src/console/routes.ts, and the
 * queue dashboard at `/admin/queues`, src/api/dashboard.ts).
 *
 * One sign-in: the service token, given once (the sign-in form, `?token=` on any admin URL, or an
 * `Authorization: Bearer` header for scripts), becomes an HttpOnly, SameSite=Strict cookie with
 * Path=/admin holding an HMAC of the token (never the token), valid 12 hours on every admin page
 * (cookie helpers in src/shared/tokens.ts).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../shared/errors.js';
import { adminSetCookie, bearerOf, hasAdminCookie, tokenMatches } from '../shared/tokens.js';

export type AdminAuth = { kind: 'ok' } | { kind: 'redirect'; location: string } | { kind: 'denied'; status: 401 | 403; message: string };

/**
 * Decides an admin request: the cookie or a valid bearer passes; `?token=<valid>` sets the cookie
 * and redirects to the same URL without the token (so it leaves the address bar and history).
 */
export function checkAdmin(req: FastifyRequest, reply: FastifyReply, expected: string | undefined): AdminAuth {
  if (!expected) return { kind: 'denied', status: 401, message: 'service token is not configured on this instance (LISTENERS_SERVICE_TOKEN)' };
  const url = new URL(req.url, 'http://local');
  const q = url.searchParams.get('token');
  if (q !== null) {
    if (!tokenMatches(q, expected)) return { kind: 'denied', status: 403, message: 'invalid service token' };
    url.searchParams.delete('token');
    reply.header('set-cookie', adminSetCookie(expected, req.protocol === 'https')).header('cache-control', 'no-store');
    return { kind: 'redirect', location: `${url.pathname}${url.search}` };
  }
  if (hasAdminCookie(req.headers.cookie, expected)) return { kind: 'ok' };
  const bearer = bearerOf(req.headers.authorization);
  if (bearer === undefined) return { kind: 'denied', status: 401, message: 'sign in at /admin (service token) or send Authorization: Bearer' };
  return tokenMatches(bearer, expected) ? { kind: 'ok' } : { kind: 'denied', status: 403, message: 'invalid service token' };
}

/** A denied admin request as the error it answers (401 UNAUTHORIZED / 403 FORBIDDEN). */
export function adminDenial(r: { status: 401 | 403; message: string }): AppError {
  return new AppError(r.status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN', r.message, undefined, r.status);
}
