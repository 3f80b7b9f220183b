import { AppError } from '../shared/errors.js';
import { bearerOf, tokenMatches } from '../shared/tokens.js';

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
