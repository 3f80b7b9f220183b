import type { IncomingMessage } from 'node:http';

/**
 * Browser origin policy (CONTRACT §2 `allowed_origins`) for both socket.io and /ws. Requests
 * without an Origin header (non-browser clients) pass; same-origin pages pass; any other browser
 * origin must be listed. WebSockets bypass CORS, so this check is what protects them.
 */
export function originAllowed(req: IncomingMessage, allowed: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (!origin) return true;
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  try {
    const o = new URL(origin);
    const host = (req.headers['x-forwarded-host'] as string | undefined)?.split(',')[0]?.trim() ?? req.headers.host;
    return o.host === host;
  } catch {
    return false;
  }
}
