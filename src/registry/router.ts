import { invalidArgs } from '../shared/errors.js';
import { findReservedKey } from '../shared/safeKeys.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { RegistryModeDecider, RegistryMode } from '../flags/registryMode.js';
import type {
  HeartbeatResult,
  PresenceWriter,
  RegisterSessionInput,
  RegisterUserResult,
  RegistryStore,
  UserDocument,
} from './types.js';

export interface RegistryRouterDeps {
  unified: RegistryStore;
  legacy: RegistryStore;
  /** Keeps `listeners_registry/{uid}` right when the unified store serves a call. */
  presence: PresenceWriter;
  decider: RegistryModeDecider;
  logger: Logger;
  metrics: Metrics;
  debug: boolean;
}

/**
 * Chooses the registry per call (CONTRACT §5): unified when the master switch and the per-user
 * flag say so, else legacy. A unified failure is served by legacy (logged with "fallback",
 * counted). In unified mode the Firestore presence document is written too; its failure is logged
 * and counted, and does not fail the call (the registry of record answered).
 */
export class RegistryRouter {
  private readonly calls;
  private readonly fallbacks;
  private readonly presenceFailures;

  constructor(private readonly d: RegistryRouterDeps) {
    this.calls = d.metrics.counter('registry_calls_total', 'Registry calls by mode and operation', ['mode', 'op']);
    this.fallbacks = d.metrics.counter('registry_fallback_total', 'Unified registry failures served by legacy', ['op']);
    this.presenceFailures = d.metrics.counter('registry_presence_write_failures_total', 'Firestore presence writes that failed in unified mode', ['op']);
  }

  modeFor(userId: string | undefined): RegistryMode {
    return this.d.decider.modeFor(userId).mode;
  }

  /**
   * Runs `fn` on the store the flag chooses. In unified mode `presence` (the Firestore presence
   * write) runs in parallel with the Redis call; its failure is logged and counted, not returned.
   */
  private async route<T>(op: string, userId: string | undefined, fn: (s: RegistryStore) => Promise<T>, presence?: () => Promise<void>): Promise<T> {
    const { mode, reason } = this.d.decider.modeFor(userId);
    if (this.d.debug) this.d.logger.debug({ registry: mode, reason, op, user_id: userId }, 'registry route');
    if (mode === 'legacy') {
      this.calls.inc({ mode: 'legacy', op });
      return fn(this.d.legacy);
    }
    const presenceDone = presence?.().catch((err: Error) => {
      this.presenceFailures.inc({ op });
      this.d.logger.error({ op, user_id: userId, err: err.message }, 'firestore presence write failed (unified mode)');
    });
    try {
      const result = await fn(this.d.unified);
      this.calls.inc({ mode: 'unified', op });
      return result;
    } catch (err) {
      this.fallbacks.inc({ op });
      this.calls.inc({ mode: 'legacy', op });
      this.d.logger.warn({ op, user_id: userId, err: (err as Error).message }, 'unified registry failed; fallback to legacy registry');
      return await fn(this.d.legacy);
    } finally {
      await presenceDone;
    }
  }

  registerUser(userId: string, sessionId: string, backendRoute: string | null): Promise<RegisterUserResult> {
    return this.route('register_user', userId, (s) => s.registerUser(userId, sessionId, backendRoute), () =>
      this.d.presence.online({ userId, sessionId, backendRoute: backendRoute ?? '', lastSeenAt: new Date().toISOString() }),
    );
  }

  registerUserSession(input: RegisterSessionInput): Promise<UserDocument> {
    return this.route('register_user_session', input.userId, (s) => s.registerUserSession(input), () =>
      this.d.presence.online({
        userId: input.userId,
        sessionId: input.sessionId,
        backendRoute: input.backendRoute ?? '',
        authorizedCompanies: input.authorizedCompanies,
        lastSeenAt: new Date().toISOString(),
      }),
    );
  }

  heartbeat(userId: string, sessionId: string | null): Promise<HeartbeatResult> {
    return this.route('heartbeat', userId, (s) => s.heartbeat(userId, sessionId), () => this.d.presence.heartbeat(userId));
  }

  updateUserHeartbeat(userId: string): Promise<boolean> {
    // Presence only for a registered user (a heartbeat must not create an online user out of nothing).
    return this.route('update_user_heartbeat', userId, (s) => s.updateUserHeartbeat(userId)).then(async (ok) => {
      if (ok && this.modeFor(userId) === 'unified') {
        await this.d.presence.heartbeat(userId).catch((err: Error) => {
          this.presenceFailures.inc({ op: 'update_user_heartbeat' });
          this.d.logger.error({ user_id: userId, err: err.message }, 'firestore presence write failed (unified mode)');
        });
      }
      return ok;
    });
  }

  /**
   * The session may have been registered under the other mode (a flag flip in between): the other
   * store is asked too when the first does not know the session. Each is one key/doc read.
   */
  async unregisterSession(sessionId: string, callerUserId?: string, op = 'unregister_session'): Promise<boolean> {
    const userId = callerUserId ?? (await this.sessionOwner(sessionId));
    const first = await this.route(op, userId, (s) => s.unregisterSession(sessionId));
    if (first) {
      // Offline only if this session is still the user's current one (checked in a transaction).
      if (userId && this.modeFor(userId) === 'unified') {
        await this.d.presence.offline(userId, sessionId).catch((err: Error) => {
          this.presenceFailures.inc({ op });
          this.d.logger.error({ op, user_id: userId, err: err.message }, 'firestore presence write failed (unified mode)');
        });
      }
      return true;
    }
    const mode = this.modeFor(userId);
    const other = mode === 'unified' ? this.d.legacy : this.d.unified;
    try {
      return await other.unregisterSession(sessionId);
    } catch (err) {
      this.d.logger.debug({ err: (err as Error).message }, 'other registry could not unregister session');
      return false;
    }
  }

  private async sessionOwner(sessionId: string): Promise<string | undefined> {
    const u = this.d.unified as RegistryStore & { sessionUser?: (sid: string) => Promise<string | null> };
    try {
      return (await u.sessionUser?.(sessionId)) ?? undefined;
    } catch {
      return undefined;
    }
  }

  updateUserService(userId: string, serviceName: string, data: Record<string, unknown>): Promise<boolean> {
    // Defence in depth (the RPC layer refuses these first): no store ever writes a reserved name.
    const bad = findReservedKey({ [serviceName]: data }, 'services');
    if (bad) return Promise.reject(invalidArgs(`${bad.path}: "${bad.key}" is a reserved name (__proto__, constructor, prototype) and cannot be a field name`, { argument: 'service_data' }));
    return this.route('update_user_service', userId, (s) => s.updateUserService(userId, serviceName, data));
  }

  getUserRegistry(userId: string): Promise<UserDocument | null> {
    return this.route('get_user_registry', userId, (s) => s.getUserRegistry(userId));
  }

  getCompanyActiveUsers(companyId: string, callerUserId?: string): Promise<string[]> {
    return this.route('get_company_active_users', callerUserId, (s) => s.getCompanyActiveUsers(companyId));
  }

  noteTask(userId: string, taskId: string, terminal: boolean): Promise<void> {
    return this.route('note_task', userId, (s) => s.noteTask(userId, taskId, terminal));
  }
}
