/**
 * Token helpers shared by the HTTP layer (src/api), the realtime gateway and the admin pages:
 * constant-time comparison, the bearer header, and the admin cookie (an HMAC of the service
 * token, never the token itself).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** The expected token's digest, computed once per token (the configured token rarely changes). */
let lastExpected: { token: string; digest: Buffer } | undefined;
function expectedDigest(expected: string): Buffer {
  if (lastExpected?.token !== expected) lastExpected = { token: expected, digest: digest(expected) };
  return lastExpected.digest;
}

/**
 * Constant-time comparison: both sides are hashed to a fixed length first, so neither the
 * content nor the length of the expected token leaks through timing.
 */
export function tokenMatches(presented: string | undefined, expected: string | undefined): boolean {
  if (!presented || !expected) return false;
  return timingSafeEqual(digest(presented), expectedDigest(expected));
}

/** Parses `Authorization: Bearer <token>`; undefined when absent or another scheme. */
export function bearerOf(header: string | string[] | undefined): string | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (!h) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m?.[1]?.trim() || undefined;
}

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
