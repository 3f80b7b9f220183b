import type { Auth } from 'firebase-admin/auth';
import { tokenMatches } from '../shared/tokens.js';

/** Why a connection was refused; `code` is what clients see (socket.io `err.data.code`, /ws close reason). */
export type AuthFailureCode = 'UNAUTHORIZED' | 'FORBIDDEN' | 'TOKEN_EXPIRED' | 'TOKEN_REVOKED' | 'INVALID_REQUEST';

export class GatewayAuthError extends Error {
  constructor(
    readonly code: AuthFailureCode,
    message: string,
  ) {
    super(message);
    this.name = 'GatewayAuthError';
  }

  /** HTTP status for refusals before a WebSocket upgrade. */
  get httpStatus(): number {
    return this.code === 'FORBIDDEN' ? 403 : this.code === 'INVALID_REQUEST' ? 400 : 401;
  }
}

/** What a client may present, from the socket.io handshake `auth` or the /ws query/headers. */
export interface Credentials {
  /** Firebase ID token. */
  token?: unknown;
  /** Service token of trusted backends (with `uid`). */
  service_token?: unknown;
  uid?: unknown;
}

export interface Principal {
  uid: string;
  /** `bridge`: a /ws client from WS_TRUSTED_NETWORKS with `?uid=` alone (migration bridge, CONTRACT §13.6). */
  kind: 'firebase' | 'service' | 'bridge';
}

/** A uid as /ws and socket handshakes accept it. */
export function validUid(uid: unknown): uid is string {
  return typeof uid === 'string' && UID_RE.test(uid);
}

export interface Authenticator {
  authenticate(c: Credentials): Promise<Principal>;
}

const UID_RE = /^[A-Za-z0-9_\-.:@]{1,128}$/;

/**
 * Handshake auth (CONTRACT §8): a Firebase ID token verified by firebase-admin (`checkRevoked`
 * configurable), or the service token (constant-time compare) plus a `uid`. Anything else, and a
 * `uid` alone, is refused.
 */
export function createAuthenticator(o: { auth: Auth; serviceToken: string | undefined; checkRevoked: boolean }): Authenticator {
  return {
    async authenticate(c) {
      const token = typeof c.token === 'string' && c.token.length > 0 ? c.token : undefined;
      const serviceToken = typeof c.service_token === 'string' && c.service_token.length > 0 ? c.service_token : undefined;
      if (token) return { uid: await verifyIdToken(o.auth, token, o.checkRevoked), kind: 'firebase' };
      if (serviceToken) {
        if (!o.serviceToken) throw new GatewayAuthError('UNAUTHORIZED', 'service tokens are not accepted: no service token is configured on this instance');
        if (!tokenMatches(serviceToken, o.serviceToken)) throw new GatewayAuthError('FORBIDDEN', 'invalid service token');
        if (typeof c.uid !== 'string' || !UID_RE.test(c.uid)) throw new GatewayAuthError('INVALID_REQUEST', 'service-token connections must name a valid uid');
        return { uid: c.uid, kind: 'service' };
      }
      if (c.uid !== undefined) throw new GatewayAuthError('UNAUTHORIZED', 'a uid alone is not accepted: present a Firebase ID token (token) or the service token (service_token) with the uid');
      throw new GatewayAuthError('UNAUTHORIZED', 'missing credentials: present a Firebase ID token (token) or the service token (service_token) with a uid');
    },
  };
}

async function verifyIdToken(auth: Auth, token: string, checkRevoked: boolean): Promise<string> {
  try {
    const decoded = await auth.verifyIdToken(token, checkRevoked);
    return decoded.uid;
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code === 'auth/id-token-expired') throw new GatewayAuthError('TOKEN_EXPIRED', 'the Firebase ID token has expired');
    if (code === 'auth/id-token-revoked') throw new GatewayAuthError('TOKEN_REVOKED', 'the Firebase ID token was revoked');
    if (code === 'auth/user-disabled') throw new GatewayAuthError('FORBIDDEN', 'the user is disabled');
    throw new GatewayAuthError('UNAUTHORIZED', 'invalid Firebase ID token');
  }
}
