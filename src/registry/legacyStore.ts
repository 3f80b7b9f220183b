import { FieldPath, FieldValue, Timestamp, type Firestore } from 'firebase-admin/firestore';
import {
  emptyUserDocument,
  type HeartbeatResult,
  type PresenceWriter,
  type RegisterSessionInput,
  type RegisterUserResult,
  type RegistryStore,
  type UserDocument,
} from './types.js';
import { dict, scrub } from '../shared/safeKeys.js';

export const PRESENCE_COLLECTION = 'listeners_registry';
export const SESSION_INDEX_COLLECTION = 'listeners_registry_sessions';

interface PresenceOptions {
  ttlSeconds: number;
  instanceId: string;
}

/**
 * The Firestore presence document `listeners_registry/{uid}` (CONTRACT §5): `heartbeat_at` is
 * always a server Timestamp, never a string — the listeners compare it to now.
 */
export class FirestorePresence implements PresenceWriter {
  constructor(
    private readonly db: Firestore,
    private readonly opts: PresenceOptions,
  ) {}

  ref(userId: string) {
    return this.db.collection(PRESENCE_COLLECTION).doc(userId);
  }

  async online(p: { userId: string; sessionId: string | null; backendRoute: string | null; authorizedCompanies?: string[]; lastSeenAt: string }): Promise<void> {
    const data: Record<string, unknown> = {
      status: 'online',
      heartbeat_at: FieldValue.serverTimestamp(),
      ttl_seconds: this.opts.ttlSeconds,
      instance_id: this.opts.instanceId,
      last_seen_at: p.lastSeenAt,
    };
    if (p.sessionId !== null) data.session_id = p.sessionId;
    if (p.backendRoute !== null) data.backend_route = p.backendRoute;
    if (p.authorizedCompanies) data.authorized_companies_ids = p.authorizedCompanies;
    await this.ref(p.userId).set(data, { merge: true });
  }

  async heartbeat(userId: string): Promise<void> {
    await this.ref(userId).set(
      { status: 'online', heartbeat_at: FieldValue.serverTimestamp(), ttl_seconds: this.opts.ttlSeconds, instance_id: this.opts.instanceId },
      { merge: true },
    );
  }

  async offline(userId: string, sessionId?: string): Promise<void> {
    const ref = this.ref(userId);
    if (sessionId === undefined) {
      await ref.set({ status: 'offline', last_seen_at: new Date().toISOString() }, { merge: true });
      return;
    }
    await this.db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      if (snap.exists && snap.get('session_id') === sessionId) tx.set(ref, { status: 'offline', last_seen_at: new Date().toISOString() }, { merge: true });
    });
  }
}

function iso(v: unknown): string | null {
  if (v instanceof Timestamp) return v.toDate().toISOString();
  if (typeof v === 'string') return v;
  return null;
}

/**
 * The legacy registry (Firestore): presence documents plus a session index collection so that
 * `unregister_session` is one document read, never a scan. Shapes match the unified store.
 */
export class LegacyRegistryStore implements RegistryStore {
  readonly kind = 'legacy' as const;
  private readonly presence: FirestorePresence;

  constructor(
    private readonly db: Firestore,
    private readonly opts: PresenceOptions,
  ) {
    this.presence = new FirestorePresence(db, opts);
  }

  private sessionRef(sessionId: string) {
    return this.db.collection(SESSION_INDEX_COLLECTION).doc(sessionId);
  }

  async registerUser(userId: string, sessionId: string, backendRoute: string | null): Promise<RegisterUserResult> {
    const lastSeenAt = new Date().toISOString();
    const batch = this.db.batch();
    batch.set(
      this.presence.ref(userId),
      {
        status: 'online',
        heartbeat_at: FieldValue.serverTimestamp(),
        ttl_seconds: this.opts.ttlSeconds,
        instance_id: this.opts.instanceId,
        session_id: sessionId,
        backend_route: backendRoute ?? '',
        last_seen_at: lastSeenAt,
      },
      { merge: true },
    );
    batch.set(this.sessionRef(sessionId), { user_id: userId, created_at: FieldValue.serverTimestamp() });
    await batch.commit();
    return { user_id: userId, session_id: sessionId, backend_route: backendRoute ?? '', last_seen_at: lastSeenAt };
  }

  async registerUserSession(input: RegisterSessionInput): Promise<UserDocument> {
    await this.registerUser(input.userId, input.sessionId, input.backendRoute);
    await this.presence.ref(input.userId).set(
      { current_company_id: input.companyId, authorized_companies_ids: input.authorizedCompanies },
      { merge: true },
    );
    const doc = await this.getUserRegistry(input.userId);
    if (!doc) throw new Error('presence document vanished right after it was written');
    return doc;
  }

  async unregisterSession(sessionId: string): Promise<boolean> {
    const sref = this.sessionRef(sessionId);
    return this.db.runTransaction(async (tx) => {
      const s = await tx.get(sref);
      if (!s.exists) return false;
      const userId = s.get('user_id') as string;
      const uref = this.presence.ref(userId);
      const u = await tx.get(uref);
      tx.delete(sref);
      if (u.exists && u.get('session_id') === sessionId) {
        tx.set(uref, { status: 'offline', last_seen_at: new Date().toISOString() }, { merge: true });
      }
      return true;
    });
  }

  unregisterUserSession(sessionId: string): Promise<boolean> {
    return this.unregisterSession(sessionId);
  }

  async heartbeat(userId: string, sessionId: string | null): Promise<HeartbeatResult> {
    const now = new Date().toISOString();
    const data: Record<string, unknown> = {
      status: 'online',
      heartbeat_at: FieldValue.serverTimestamp(),
      ttl_seconds: this.opts.ttlSeconds,
      instance_id: this.opts.instanceId,
      last_seen_at: now,
    };
    if (sessionId) data.session_id = sessionId;
    const batch = this.db.batch();
    batch.set(this.presence.ref(userId), data, { merge: true });
    if (sessionId) batch.set(this.sessionRef(sessionId), { user_id: userId }, { merge: true });
    await batch.commit();
    return { user_id: userId, status: 'online', heartbeat_at: now };
  }

  async updateUserHeartbeat(userId: string): Promise<boolean> {
    const snap = await this.presence.ref(userId).get();
    if (!snap.exists) return false;
    await this.presence.heartbeat(userId);
    return true;
  }

  async updateUserService(userId: string, serviceName: string, data: Record<string, unknown>): Promise<boolean> {
    const ref = this.presence.ref(userId);
    const entries = Object.entries(data);
    if (entries.length === 0) return (await ref.get()).exists;
    // One field path per key: Firestore applies the update mask atomically on the server, so
    // concurrent merges into the same service never overwrite each other (no read-modify-write).
    const [first, ...rest] = entries.flatMap(([k, v]) => [new FieldPath('services', serviceName, k), v]);
    try {
      await ref.update(first as FieldPath, rest[0], ...rest.slice(1));
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 5) return false; // NOT_FOUND: user not registered
      throw err;
    }
  }

  async noteTask(userId: string, taskId: string, terminal: boolean): Promise<void> {
    const ref = this.presence.ref(userId);
    await this.db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      if (!snap.exists) return;
      const tasks = scrub((snap.get('services.tasks') as { active_tasks?: string[]; task_history?: string[] } | undefined) ?? {});
      const active = (tasks.active_tasks ?? []).filter((t) => t !== taskId);
      const history = tasks.task_history ?? [];
      if (!terminal) active.push(taskId);
      tx.update(ref, new FieldPath('services', 'tasks'), {
        ...tasks,
        active_tasks: active,
        task_history: terminal ? [taskId, ...history.filter((t) => t !== taskId)].slice(0, 50) : history,
      });
    });
  }

  async getUserRegistry(userId: string): Promise<UserDocument | null> {
    const snap = await this.presence.ref(userId).get();
    if (!snap.exists) return null;
    // scrub: null-prototype copies without reserved keys (a document written before they were refused).
    const d = scrub(snap.data() ?? {});
    const hb = iso(d.heartbeat_at) ?? new Date(0).toISOString();
    const base = emptyUserDocument(userId, hb, (d.ttl_seconds as number | undefined) ?? this.opts.ttlSeconds);
    const services = Object.assign(dict<Record<string, unknown>>(), base.services as unknown as Record<string, Record<string, unknown>>);
    for (const [name, value] of Object.entries((d.services as Record<string, Record<string, unknown>> | undefined) ?? {})) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) continue;
      services[name] = Object.assign(dict(), services[name], value);
    }
    return {
      user_info: {
        user_id: userId,
        session_id: (d.session_id as string | undefined) ?? '',
        backend_route: (d.backend_route as string | undefined) ?? '',
        last_seen_at: iso(d.last_seen_at) ?? hb,
        status: d.status === 'online' ? 'online' : 'offline',
      },
      companies: {
        current_company_id: (d.current_company_id as string | undefined) ?? '',
        authorized_companies_ids: (d.authorized_companies_ids as string[] | undefined) ?? [],
        company_roles: (d.company_roles as Record<string, string> | undefined) ?? dict<string>(),
      },
      services: services as unknown as UserDocument['services'],
      heartbeat: { last_heartbeat: hb, ttl_seconds: base.heartbeat.ttl_seconds },
    };
  }

  async getCompanyActiveUsers(companyId: string): Promise<string[]> {
    const snap = await this.db.collection(PRESENCE_COLLECTION).where('current_company_id', '==', companyId).get();
    const now = Date.now();
    return snap.docs
      .filter((d) => {
        const hb: unknown = d.get('heartbeat_at');
        const ttl = (d.get('ttl_seconds') as number | undefined) ?? this.opts.ttlSeconds;
        return d.get('status') === 'online' && hb instanceof Timestamp && now - hb.toMillis() <= ttl * 1000;
      })
      .map((d) => d.id);
  }
}
