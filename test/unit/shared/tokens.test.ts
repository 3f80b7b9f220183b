import { describe, expect, it } from 'vitest';
import { adminCookieValue, adminSetCookie, bearerOf, cookieOf, hasAdminCookie, tokenMatches } from '../../../src/shared/tokens.js';

describe('token helpers (src/shared/tokens.ts)', () => {
  it('tokenMatches: equal tokens only; absent or empty sides never match', () => {
    expect(tokenMatches('secret-token-123', 'secret-token-123')).toBe(true);
    expect(tokenMatches('secret-token-124', 'secret-token-123')).toBe(false);
    expect(tokenMatches('secret', 'secret-token-123')).toBe(false);
    expect(tokenMatches(undefined, 'x')).toBe(false);
    expect(tokenMatches('', '')).toBe(false);
    expect(tokenMatches('x', undefined)).toBe(false);
  });

  it('bearerOf: the Bearer scheme only, trimmed, first of repeated headers', () => {
    expect(bearerOf('Bearer abc')).toBe('abc');
    expect(bearerOf('  bearer   abc  ')).toBe('abc');
    expect(bearerOf(['Bearer one', 'Bearer two'])).toBe('one');
    expect(bearerOf('Basic abc')).toBeUndefined();
    expect(bearerOf('Bearer ')).toBeUndefined();
    expect(bearerOf(undefined)).toBeUndefined();
  });

  it('the admin cookie holds an HMAC of the token, never the token; malformed cookies are ignored', () => {
    const token = 'a-service-token-of-some-length';
    const set = adminSetCookie(token, true);
    expect(set).not.toContain(token);
    expect(set).toBe(`pinnokio_admin=${adminCookieValue(token)}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=43200; Secure`);
    expect(adminSetCookie(token, false, true)).toBe('pinnokio_admin=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0');
    const header = `other=1; ${set.split(';')[0]!}`;
    expect(hasAdminCookie(header, token)).toBe(true);
    expect(hasAdminCookie(header, 'another-token')).toBe(false);
    expect(hasAdminCookie(header, undefined)).toBe(false);
    expect(cookieOf('pinnokio_admin=%E0%A4%A', 'pinnokio_admin')).toBeUndefined();
    expect(cookieOf(undefined, 'pinnokio_admin')).toBeUndefined();
  });
});
