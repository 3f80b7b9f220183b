import type { RedisClient } from '../shared/redis.js';
import { keys } from '../shared/keys.js';
import { dict } from '../shared/safeKeys.js';
import { assemble, field, flatten } from './hashDoc.js';
import {
  USER_TTL_SECONDS,
  emptyUserDocument,
  type HeartbeatResult,
  type RegisterSessionInput,
  type RegisterUserResult,
  type RegistryStore,
  type UserDocument,
} from './types.js';

const F = {
  userId: field('user_info', 'user_id'),
  sessionId: field('user_info', 'session_id'),
  backendRoute: field('user_info', 'backend_route'),
  lastSeen: field('user_info', 'last_seen_at'),
  status: field('user_info', 'status'),
  company: field('companies', 'current_company_id'),
  lastHeartbeat: field('heartbeat', 'last_heartbeat'),
  ttl: field('heartbeat', 'ttl_seconds'),
  activeTask: (tid: string) => field('services', 'tasks', '_active', tid),
  historyTask: (tid: string) => field('services', 'tasks', '_history', tid),
};

/**
 * Unregister a session atomically: only the session that is current for the user turns the user
 * offline. One key per call (cluster-safe): the session key is read and deleted first, then this
 * script runs on the user key.
 * KEYS[1] user key; ARGV[1] JSON session id; ARGV[2] JSON now; ARGV[3] ttl seconds.
 * Returns the current company id (JSON) when the user went offline, else false.
 */
const OFFLINE_IF_CURRENT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local sid = redis.call('HGET', KEYS[1], '${F.sessionId}')
if sid ~= ARGV[1] then return false end
redis.call('HSET', KEYS[1], '${F.status}', '"offline"', '${F.lastSeen}', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return redis.call('HGET', KEYS[1], '${F.company}') or '""'
`;

/**
 * Writes a user's fields and renews the key's TTL in one command, answering the current company id
 * (JSON) or false: registration and heartbeats need it to touch the company's member set, and reading
 * it here saves a round trip and a command (the company field is never among the fields written by
 * the callers that ask for it).
 * KEYS[1] user key; ARGV[1] ttl seconds; ARGV[2..] field, value, field, value…
 */
const WRITE_USER = `
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return redis.call('HGET', KEYS[1], '${F.company}') or false
`;

/** ZADD with a TTL renewed, one command. KEYS[1] sorted set; ARGV[1] ttl; ARGV[2] score; ARGV[3] member. */
const ZADD_TTL = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
return redis.call('EXPIRE', KEYS[1], ARGV[1])
`;

/**
 * Notes a task on its user's document when the document exists, one command: a running task under
 * services.tasks._active, an ended one moved to _history. KEYS[1] user key; ARGV[1] '1' when the
 * task ended; ARGV[2] active field; ARGV[3] history field; ARGV[4] now (ms).
 */
const NOTE_TASK = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '1' then
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
else
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
end
return 1
`;

const ONLINE_STATUS = JSON.stringify('online');

/** The unified registry (CONTRACT §5): Redis, every key with a TTL, no scans, atomic field writes. */
export class UnifiedRegistryStore implements RegistryStore {
  readonly kind = 'unified' as const;

  constructor(
    private readonly redis: RedisClient,
    private readonly opts: { heartbeatTtlSeconds: number; now?: () => Date },
  ) {
    this.redis.defineCommand('registryOfflineIfCurrent', { numberOfKeys: 1, lua: OFFLINE_IF_CURRENT });
    this.redis.defineCommand('registryWriteUser', { numberOfKeys: 1, lua: WRITE_USER });
    this.redis.defineCommand('registryZaddTtl', { numberOfKeys: 1, lua: ZADD_TTL });
    this.redis.defineCommand('registryNoteTask', { numberOfKeys: 1, lua: NOTE_TASK });
  }

  private get scripts(): RegistryScripts {
    return this.redis as unknown as RegistryScripts;
  }

  private now(): Date {
    return this.opts.now ? this.opts.now() : new Date();
  }

  private async touchCompany(companyId: string, userId: string, nowMs: number): Promise<void> {
    if (!companyId) return;
    const k = keys.company(companyId);
    // Members older than a day are trimmed on every write, so the set stays bounded without a scan.
    await Promise.all([this.scripts.registryZaddTtl(k, USER_TTL_SECONDS, nowMs, userId), this.redis.zremrangebyscore(k, '-inf', nowMs - USER_TTL_SECONDS * 1000)]);
  }

  /**
   * The user's fields (flat field/value list) and the active-users index, two commands in one
   * round trip (auto-pipelined); answers the user's current company id, '' when none.
   */
  private async writeUser(userId: string, fieldValues: string[], nowMs: number): Promise<string> {
    const [company] = await Promise.all([
      this.scripts.registryWriteUser(keys.user(userId), USER_TTL_SECONDS, ...fieldValues),
      this.scripts.registryZaddTtl(keys.activeUsers(), USER_TTL_SECONDS, nowMs, userId),
    ]);
    return company ? (JSON.parse(company) as string) : '';
  }

  /** The fields an online registration sets, as a flat field/value list (values JSON, as hashDoc stores them). */
  private onlineFields(userId: string, sessionId: string, backendRoute: string, nowIso: string): string[] {
    const iso = JSON.stringify(nowIso);
    return [
      F.userId, JSON.stringify(userId),
      F.sessionId, JSON.stringify(sessionId),
      F.backendRoute, JSON.stringify(backendRoute),
      F.lastSeen, iso,
      F.status, ONLINE_STATUS,
      F.lastHeartbeat, iso,
      F.ttl, String(this.opts.heartbeatTtlSeconds),
    ];
  }

  async registerUser(userId: string, sessionId: string, backendRoute: string | null): Promise<RegisterUserResult> {
    const now = this.now();
    const nowIso = now.toISOString();
    const route = backendRoute ?? '';
    // Three commands in one round trip: the user's fields (answering its company), the index, the session.
    const [company] = await Promise.all([
      this.writeUser(userId, this.onlineFields(userId, sessionId, route, nowIso), now.getTime()),
      this.redis.set(keys.session(sessionId), userId, 'EX', USER_TTL_SECONDS),
    ]);
    if (company) await this.touchCompany(company, userId, now.getTime());
    return { user_id: userId, session_id: sessionId, backend_route: route, last_seen_at: nowIso };
  }

  async registerUserSession(input: RegisterSessionInput): Promise<UserDocument> {
    const now = this.now();
    const nowIso = now.toISOString();
    const companies = flatten(['companies'], { current_company_id: input.companyId, authorized_companies_ids: input.authorizedCompanies });
    const fields = [...this.onlineFields(input.userId, input.sessionId, input.backendRoute ?? '', nowIso), ...Object.entries(companies).flat()];
    await Promise.all([
      this.writeUser(input.userId, fields, now.getTime()),
      this.redis.set(keys.session(input.sessionId), input.userId, 'EX', USER_TTL_SECONDS),
      this.touchCompany(input.companyId, input.userId, now.getTime()),
    ]);
    const doc = await this.getUserRegistry(input.userId);
    if (!doc) throw new Error('user document vanished right after it was written');
    return doc;
  }

  async unregisterSession(sessionId: string): Promise<boolean> {
    const sk = keys.session(sessionId);
    const userId = await this.redis.get(sk);
    if (userId === null) return false;
    const removed = await this.redis.del(sk);
    const nowIso = this.now().toISOString();
    const company = (await (this.redis as unknown as RegistryScripts).registryOfflineIfCurrent(
      keys.user(userId),
      JSON.stringify(sessionId),
      JSON.stringify(nowIso),
      USER_TTL_SECONDS,
    )) as string | null;
    if (company) {
      const cid = JSON.parse(company) as string;
      if (cid) await this.redis.zrem(keys.company(cid), userId);
    }
    return removed > 0;
  }

  unregisterUserSession(sessionId: string): Promise<boolean> {
    return this.unregisterSession(sessionId);
  }

  /** The user id a session belongs to (for presence), or null. */
  sessionUser(sessionId: string): Promise<string | null> {
    return this.redis.get(keys.session(sessionId));
  }

  async heartbeat(userId: string, sessionId: string | null): Promise<HeartbeatResult> {
    const now = this.now();
    const nowIso = now.toISOString();
    const iso = JSON.stringify(nowIso);
    const fields = [F.lastHeartbeat, iso, F.ttl, String(this.opts.heartbeatTtlSeconds), F.userId, JSON.stringify(userId), F.status, ONLINE_STATUS, F.lastSeen, iso];
    if (sessionId) fields.push(F.sessionId, JSON.stringify(sessionId));
    const [company] = await Promise.all([
      this.writeUser(userId, fields, now.getTime()),
      sessionId ? this.redis.set(keys.session(sessionId), userId, 'EX', USER_TTL_SECONDS) : undefined,
    ]);
    if (company) await this.touchCompany(company, userId, now.getTime());
    return { user_id: userId, status: 'online', heartbeat_at: nowIso };
  }

  async updateUserHeartbeat(userId: string): Promise<boolean> {
    if ((await this.redis.exists(keys.user(userId))) === 0) return false;
    await this.heartbeat(userId, null);
    return true;
  }

  async updateUserService(userId: string, serviceName: string, data: Record<string, unknown>): Promise<boolean> {
    const k = keys.user(userId);
    if ((await this.redis.exists(k)) === 0) return false;
    if (Object.keys(data).length === 0) return true;
    await Promise.all([this.redis.hset(k, flatten(['services', serviceName], data)), this.redis.expire(k, USER_TTL_SECONDS)]);
    return true;
  }

  /** One command, issued synchronously (callers rely on its order relative to commands sent after it). */
  async noteTask(userId: string, taskId: string, terminal: boolean): Promise<void> {
    await this.scripts.registryNoteTask(keys.user(userId), terminal ? '1' : '0', F.activeTask(taskId), F.historyTask(taskId), String(Date.now()));
  }

  async getUserRegistry(userId: string): Promise<UserDocument | null> {
    const hash = await this.redis.hgetall(keys.user(userId));
    if (Object.keys(hash).length === 0) return null;
    return toUserDocument(userId, hash, this.opts.heartbeatTtlSeconds);
  }

  async getCompanyActiveUsers(companyId: string): Promise<string[]> {
    const since = this.now().getTime() - this.opts.heartbeatTtlSeconds * 1000;
    return this.redis.zrangebyscore(keys.company(companyId), since, '+inf');
  }
}

interface RegistryScripts {
  registryOfflineIfCurrent(key: string, sid: string, nowIso: string, ttl: number): Promise<unknown>;
  registryWriteUser(key: string, ttl: number, ...fieldValues: string[]): Promise<string | null>;
  registryZaddTtl(key: string, ttl: number, score: number, member: string): Promise<number>;
  registryNoteTask(key: string, terminal: string, activeField: string, historyField: string, nowMs: string): Promise<number>;
}

/** Hash → the CONTRACT §4 user document, with defaults for sections never written. */
export function toUserDocument(userId: string, hash: Record<string, string>, ttlSeconds: number): UserDocument {
  const raw = assemble(hash) as Partial<Record<string, Record<string, unknown>>>;
  const base = emptyUserDocument(userId, new Date(0).toISOString(), ttlSeconds);
  // assemble() already dropped reserved names; the objects built here are null-prototype too.
  const services = Object.assign(dict<Record<string, unknown>>(), base.services as unknown as Record<string, Record<string, unknown>>);
  for (const [name, value] of Object.entries(raw.services ?? {})) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) continue;
    services[name] = Object.assign(dict(), services[name], value as Record<string, unknown>);
  }
  const tasks = services.tasks ?? dict();
  const active = Object.entries((tasks._active as Record<string, number> | undefined) ?? {}).sort((a, b) => a[1] - b[1]).map(([t]) => t);
  const history = Object.entries((tasks._history as Record<string, number> | undefined) ?? {}).sort((a, b) => b[1] - a[1]).map(([t]) => t).slice(0, 50);
  delete tasks._active;
  delete tasks._history;
  services.tasks = Object.assign(dict(), tasks, { active_tasks: active, task_history: history });
  return {
    user_info: Object.assign(dict(), base.user_info, raw.user_info),
    companies: Object.assign(dict(), base.companies, raw.companies),
    services: services as unknown as UserDocument['services'],
    heartbeat: Object.assign(dict(), base.heartbeat, raw.heartbeat),
  };
}
