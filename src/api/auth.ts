import { createHash, timingSafeEqual } from 'node:crypto';
import { AppError } from '../shared/errors.js';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Constant-time comparison: both sides are hashed to a fixed length first, so neither the
 * content nor the length of the expected token leaks through timing.
 */
export function tokenMatches(presented: string | undefined, expected: string | undefined): boolean {
  if (!presented || !expected) return false;
  return timingSafeEqual(digest(presented), digest(expected));
}

/** Parses `Authorization: Bearer <token>`; undefined when absent or another scheme. */
export function bearerOf(header: string | string[] | undefined): string | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (!h) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m?.[1]?.trim() || undefined;
}

/**
 * 401 UNAUTHORIZED when no bearer is presented (or no token is configured: the service is never
 * open by default), 403 FORBIDDEN when it is wrong.
 */
export function assertServiceToken(header: string | string[] | undefined, expected: string | undefined): void {
  const presented = bearerOf(header);
  if (!expected) throw new AppError('UNAUTHORIZED', 'service token is not configured on this instance (LISTENERS_SERVICE_TOKEN)', undefined, 401);
  if (!presented) throw new AppError('UNAUTHORIZED', 'missing bearer token (Authorization: Bearer <token>)', undefined, 401);
  if (!tokenMatches(presented, expected)) throw new AppError('FORBIDDEN', 'invalid service token', undefined, 403);
}
