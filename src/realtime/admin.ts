/**
 * Admin sign-in shared by every page under `/admin` (the console here, the queue dashboard at
 * `/admin/queues`), and the console's routes.
 *
 * One sign-in: the service token, given once (the sign-in form, `?token=` on any admin URL, or an
 * `Authorization: Bearer` header for scripts), becomes an HttpOnly, SameSite=Strict cookie with
 * Path=/admin holding an HMAC of the token (never the token), valid 12 hours on every admin page.
 */
import { createHmac } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerOf, tokenMatches } from '../api/auth.js';
import { registerConsole } from '../console/routes.js';
import type { Core } from '../core.js';

export const ADMIN_COOKIE = 'pinnokio_admin';
export const ADMIN_PATH = '/admin';
const COOKIE_MAX_AGE_S = 43200;

/** The cookie value is derived from the service token (HMAC), so the token itself is never stored in the browser. */
export function adminCookieValue(serviceToken: string): string {
  return createHmac('sha256', serviceToken).update('pinnokio-admin-cookie-v1').digest('base64url');
}

export function cookieOf(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** True when a request (HTTP or socket handshake) carries a valid admin cookie. */
export function hasAdminCookie(cookieHeader: string | undefined, serviceToken: string | undefined): boolean {
  if (!serviceToken) return false;
  return tokenMatches(cookieOf(cookieHeader, ADMIN_COOKIE), adminCookieValue(serviceToken));
}

/** The Set-Cookie header that signs a browser in (or out, with `clear`). */
export function adminSetCookie(serviceToken: string | undefined, secure: boolean, clear = false): string {
  const value = clear || !serviceToken ? '' : adminCookieValue(serviceToken);
  return `${ADMIN_COOKIE}=${value}; Path=${ADMIN_PATH}; HttpOnly; SameSite=Strict; Max-Age=${clear ? 0 : COOKIE_MAX_AGE_S}${secure ? '; Secure' : ''}`;
}

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

/**
 * GET /admin (the console) and its API, behind the admin sign-in. The socket path is kept for
 * callers that still pass it (the console itself uses server-sent events under /admin).
 */
export function registerAdminPage(app: FastifyInstance, o: { core: Core; socketPath?: string }): void {
  registerConsole(app, { core: o.core });
}
