import { createServer, type Server } from 'node:http';
import { freePort } from './net.js';

/**
 * A stand-in for the Firebase Auth emulator's one endpoint firebase-admin calls
 * (`accounts:lookup`). Sets FIREBASE_AUTH_EMULATOR_HOST for this test file's process, so that
 * `verifyIdToken` accepts unsigned tokens (TESTING.md). Disabled users are answered as such.
 */
export interface AuthEmulator {
  host: string;
  disabled: Set<string>;
  lookups: number;
  stop(): Promise<void>;
}

export async function startAuthEmulator(): Promise<AuthEmulator> {
  const port = await freePort();
  const state = { disabled: new Set<string>(), lookups: 0 };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method !== 'POST' || !/\/identitytoolkit\.googleapis\.com\/v1\/projects\/[^/]+\/accounts:lookup/.test(req.url ?? '')) {
        res.writeHead(404).end();
        return;
      }
      state.lookups += 1;
      let uids: string[] = [];
      try {
        const b = JSON.parse(body || '{}') as { localId?: string[]; idToken?: string };
        if (Array.isArray(b.localId)) uids = b.localId;
        else if (b.idToken) uids = [String((JSON.parse(Buffer.from(b.idToken.split('.')[1] ?? '', 'base64url').toString()) as { sub: string }).sub)];
      } catch {
        uids = [];
      }
      const now = Date.now();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'identitytoolkit#GetAccountInfoResponse',
          users: uids.map((uid) => ({ localId: uid, disabled: state.disabled.has(uid), createdAt: String(now - 86400000), lastLoginAt: String(now) })),
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const host = `127.0.0.1:${port}`;
  process.env.FIREBASE_AUTH_EMULATOR_HOST = host;
  return {
    host,
    get disabled() {
      return state.disabled;
    },
    get lookups() {
      return state.lookups;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** An unsigned Firebase ID token as the Auth emulator issues them. */
export function idToken(uid: string, o: { project?: string; expiresInSec?: number; issuedSecAgo?: number } = {}): string {
  const project = o.project ?? 'demo-test';
  const now = Math.floor(Date.now() / 1000);
  const iat = now - (o.issuedSecAgo ?? 10);
  const payload = {
    iss: `https://securetoken.google.com/${project}`,
    aud: project,
    auth_time: iat,
    user_id: uid,
    sub: uid,
    iat,
    exp: now + (o.expiresInSec ?? 3600),
    firebase: { identities: {}, sign_in_provider: 'custom' },
  };
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
}
