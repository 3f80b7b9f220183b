/**
 * Listener bookkeeping (CONTRACT §4, §13.3; REGISTRY.*listener* and LISTENERS.*): Firestore documents
 * `listeners_active/{uid}/listeners/{listener_id}` with the original's field names (`listener_type,
 * space_code, thread_key, mode, created_at, last_heartbeat` (ISO strings), `status, channel_name,
 * ttl_seconds`; extra: `user_id, instance_id`), the parent `listeners_active/{uid}` (so it can be
 * listed), a Redis heartbeat index for the expiry job (no collection-group query needed) and the
 * Redis watcher requests that the lease owner turns into chat/workflow watchers (WantedStore).
 *
 * Answers are the original's (ORIGINAL §2.1, `app/registry/registry_listeners.py`):
 * - check_listener_status → {success, active, listener_id, status: active|expired|zombie|not_found,
 *   created_at, last_heartbeat, channel_name, details:{listener_type, space_code, thread_key, mode}}
 *   (not found: {success:true, active:false, listener_id, status:"not_found"})
 * - register_listener → {success:true, listener_id, channel_name, created_at, message}, or the domain
 *   refusals {success:false, error: MISSING_REQUIRED_PARAM | INVALID_LISTENER_TYPE |
 *   LISTENER_ALREADY_EXISTS, message, existing_listener?} (answered ok:true, as the original)
 * - unregister_listener → {success, listener_id, message} (idempotent)
 * - update_listener_heartbeat → bool (false when the listener does not exist)
 * - list_user_listeners → {success, user_id, listeners:[{listener_id, ...doc}], total_count,
 *   active_count, expired_count}
 * - cleanup_user_listeners → {success, cleaned_count, cleaned_listeners:[{listener_id, listener_type,
 *   status, space_code, thread_key}], message}
 * - start_workflow_listener_for_job → true (false when workflow listeners are disabled);
 *   stop_workflow_listener_for_job → true when a request was dropped.
 *
 * A chat/workflow listener document holds one reference on its watcher request (WantedStore); the
 * document's removal (unregister, cleanup, expiry) drops that reference. Other holders (another
 * document, an open `/ws` with chat parameters) keep the watcher running. Chat `mode` ("chats"
 * default, "auto" = "chats", or "job_chats") picks the RTDB subtree `{space}/{mode}/{thread}/messages`.
 * Watchers run on the instance holding the user's lease while the user is online.
 */
import type { DocumentSnapshot, Firestore } from 'firebase-admin/firestore';
import type { ListenerArgs, ListenerService } from '../app/deps.js';
import { toJsonSafe } from '../shared/events.js';
import { keys, type ChannelNames } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import type { RedisClient } from '../shared/redis.js';
import { chatMode, isListenerType, listenerId, specFor, LISTENER_TYPES } from './ids.js';
import { pythonIsoformat } from './normalize.js';
import type { WantedStore } from './wanted.js';

export const ACTIVE_COLLECTION = 'listeners_active';

export interface BookkeepingOptions {
  firestore: Firestore;
  redis: RedisClient;
  wanted: WantedStore;
  channels: ChannelNames;
  ttlSeconds: number;
  instanceId: string;
  workflowEnabled: boolean;
  logger: Logger;
  now?: () => Date;
}

/** `last_heartbeat` (ISO string as the original writes it; a Timestamp is read too) → epoch ms. */
function millis(v: unknown): number | undefined {
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  if (v !== null && typeof v === 'object' && typeof (v as { toMillis?: unknown }).toMillis === 'function') return (v as { toMillis(): number }).toMillis();
  return undefined;
}

type Freshness = { status: string; active: boolean };
type Refusal = { success: false; error: string; message: string };

const missingScope = (): Refusal => ({ success: false, error: 'MISSING_REQUIRED_PARAM', message: 'space_code and thread_key are required for listener_type chat' });

export class ListenerBookkeeping implements Required<ListenerService> {
  constructor(private readonly o: BookkeepingOptions) {}

  private now(): Date {
    return this.o.now?.() ?? new Date();
  }

  private doc(uid: string, id: string) {
    return this.o.firestore.collection(ACTIVE_COLLECTION).doc(uid).collection('listeners').doc(id);
  }

  private channel(a: ListenerArgs): string {
    return a.listener_type === 'chat' ? this.o.channels.chat(a.user_id, a.space_code ?? '', a.thread_key ?? '') : this.o.channels.user(a.user_id);
  }

  private indexMember(uid: string, id: string): string {
    return JSON.stringify([uid, id]);
  }

  /** As the original: expired past ttl_seconds, zombie without a readable heartbeat, else the stored status. */
  private freshness(d: Record<string, unknown>, nowMs: number): Freshness {
    const hb = millis(d.last_heartbeat);
    if (hb === undefined) return { status: 'zombie', active: false };
    const ttl = typeof d.ttl_seconds === 'number' && Number.isFinite(d.ttl_seconds) ? d.ttl_seconds : this.o.ttlSeconds;
    if ((nowMs - hb) / 1000 > ttl) return { status: 'expired', active: false };
    const status = typeof d.status === 'string' ? d.status : 'active';
    return { status, active: status === 'active' };
  }

  private chatScopeMissing(a: ListenerArgs): boolean {
    return a.listener_type === 'chat' && (!a.space_code || !a.thread_key);
  }

  async checkListenerStatus(a: ListenerArgs): Promise<Record<string, unknown>> {
    if (this.chatScopeMissing(a)) return missingScope();
    const id = listenerId(a);
    const snap = await this.doc(a.user_id, id).get();
    if (!snap.exists) return { success: true, active: false, listener_id: id, status: 'not_found' };
    const d = (toJsonSafe(snap.data() ?? {}) ?? {}) as Record<string, unknown>;
    const f = this.freshness(d, this.now().getTime());
    return {
      success: true,
      active: f.active,
      listener_id: id,
      status: f.status,
      created_at: d.created_at ?? null,
      last_heartbeat: d.last_heartbeat ?? null,
      channel_name: d.channel_name ?? null,
      details: { listener_type: d.listener_type ?? null, space_code: d.space_code ?? null, thread_key: d.thread_key ?? null, mode: d.mode ?? null },
    };
  }

  async registerListener(a: ListenerArgs & { mode: string | null }): Promise<Record<string, unknown>> {
    if (!isListenerType(a.listener_type)) return { success: false, error: 'INVALID_LISTENER_TYPE', message: `invalid listener_type: ${a.listener_type} (expected one of ${LISTENER_TYPES.join(', ')})` };
    if (this.chatScopeMissing(a)) return missingScope();
    const existing = await this.checkListenerStatus(a);
    const spec = specFor(a, a.listener_type === 'chat' ? chatMode(a.mode) : a.mode);
    const watcherOn = spec !== undefined && (spec.kind !== 'workflow' || this.o.workflowEnabled);
    if (existing.active === true && existing.status === 'active') {
      // As the original: still make sure the watcher runs (e.g. after a restart), then refuse.
      if (watcherOn && (await this.o.wanted.refs(a.user_id, spec)) <= 0) await this.o.wanted.add(a.user_id, spec);
      return { success: false, error: 'LISTENER_ALREADY_EXISTS', message: 'an active listener already exists for these parameters', existing_listener: existing };
    }
    const id = listenerId(a);
    const channel = this.channel(a);
    const now = pythonIsoformat(this.now());
    const fields = {
      listener_type: a.listener_type,
      space_code: a.space_code,
      thread_key: a.thread_key,
      mode: a.mode,
      created_at: now,
      last_heartbeat: now,
      status: 'active',
      channel_name: channel,
      ttl_seconds: this.o.ttlSeconds,
      user_id: a.user_id,
      instance_id: this.o.instanceId,
    };
    const batch = this.o.firestore.batch();
    batch.set(this.o.firestore.collection(ACTIVE_COLLECTION).doc(a.user_id), { user_id: a.user_id, updated_at: now }, { merge: true });
    batch.set(this.doc(a.user_id, id), fields);
    await batch.commit();
    await this.o.redis.zadd(keys.listenerHeartbeats(), this.now().getTime(), this.indexMember(a.user_id, id));
    // The document holds one reference on its watcher; an expired document being replaced still holds it.
    if (watcherOn && existing.status === 'not_found') await this.o.wanted.add(a.user_id, spec);
    else if (watcherOn && (await this.o.wanted.refs(a.user_id, spec)) <= 0) await this.o.wanted.add(a.user_id, spec);
    return { success: true, listener_id: id, channel_name: channel, created_at: now, message: 'listener registered' };
  }

  async unregisterListener(a: ListenerArgs): Promise<Record<string, unknown>> {
    if (this.chatScopeMissing(a)) return missingScope();
    const id = listenerId(a);
    const snap = await this.doc(a.user_id, id).get();
    if (!snap.exists) {
      await this.o.redis.zrem(keys.listenerHeartbeats(), this.indexMember(a.user_id, id));
      return { success: true, listener_id: id, message: 'listener was already absent from the registry' };
    }
    await this.drop(a.user_id, snap);
    return { success: true, listener_id: id, message: 'listener unregistered' };
  }

  async updateListenerHeartbeat(a: ListenerArgs): Promise<boolean> {
    if (this.chatScopeMissing(a)) return false;
    const id = listenerId(a);
    const now = this.now();
    try {
      await this.doc(a.user_id, id).update({ last_heartbeat: pythonIsoformat(now), status: 'active' });
    } catch (err) {
      if ((err as { code?: number }).code === 5) return false; // NOT_FOUND: as the original, false
      throw err;
    }
    await this.o.redis.zadd(keys.listenerHeartbeats(), now.getTime(), this.indexMember(a.user_id, id));
    await this.o.wanted.touch(a.user_id);
    return true;
  }

  async listUserListeners(a: { user_id: string; include_expired: boolean }): Promise<Record<string, unknown>> {
    const snap = await this.o.firestore.collection(ACTIVE_COLLECTION).doc(a.user_id).collection('listeners').get();
    const nowMs = this.now().getTime();
    const listeners: Array<Record<string, unknown>> = [];
    let active = 0;
    let expired = 0;
    for (const doc of snap.docs) {
      const d = (toJsonSafe(doc.data()) ?? {}) as Record<string, unknown>;
      const f = this.freshness(d, nowMs);
      const stale = f.status === 'expired' || f.status === 'zombie';
      if (stale) {
        expired++;
        d.status = f.status;
      } else active++;
      if (stale && !a.include_expired) continue;
      listeners.push({ listener_id: doc.id, ...d });
    }
    return { success: true, user_id: a.user_id, listeners, total_count: listeners.length, active_count: active, expired_count: expired };
  }

  async cleanupUserListeners(a: { user_id: string; listener_types: string[] | null }): Promise<Record<string, unknown>> {
    const types = a.listener_types && a.listener_types.length > 0 ? new Set(a.listener_types) : undefined;
    const snap = await this.o.firestore.collection(ACTIVE_COLLECTION).doc(a.user_id).collection('listeners').get();
    const cleaned: Array<Record<string, unknown>> = [];
    for (const d of snap.docs) {
      const type = d.get('listener_type') as unknown;
      if (types && !(typeof type === 'string' && types.has(type))) continue;
      await this.drop(a.user_id, d);
      cleaned.push({ listener_id: d.id, listener_type: type ?? null, status: d.get('status') ?? null, space_code: d.get('space_code') ?? null, thread_key: d.get('thread_key') ?? null });
    }
    return { success: true, cleaned_count: cleaned.length, cleaned_listeners: cleaned, message: `${cleaned.length} listener(s) cleaned up for ${a.user_id}` };
  }

  /** Deletes one listener document, its index entry and the reference it held on its watcher. */
  private async drop(uid: string, d: DocumentSnapshot): Promise<void> {
    const type = d.get('listener_type') as unknown;
    const str = (k: string) => {
      const v = d.get(k) as unknown;
      return typeof v === 'string' ? v : null;
    };
    const spec = typeof type === 'string' ? specFor({ listener_type: type, space_code: str('space_code'), thread_key: str('thread_key') }, type === 'chat' ? chatMode(str('mode')) : str('mode')) : undefined;
    await d.ref.delete();
    await this.o.redis.zrem(keys.listenerHeartbeats(), this.indexMember(uid, d.id));
    if (spec && (await this.o.wanted.refs(uid, spec)) > 0) await this.o.wanted.remove(uid, spec);
  }

  async expireStaleListeners(): Promise<number> {
    const nowMs = this.now().getTime();
    const cutoff = nowMs - this.o.ttlSeconds * 1000;
    const members = await this.o.redis.zrangebyscore(keys.listenerHeartbeats(), '-inf', `(${cutoff}`, 'LIMIT', 0, 500);
    let expired = 0;
    for (const m of members) {
      let uid: string, id: string;
      try {
        [uid, id] = JSON.parse(m) as [string, string];
        if (typeof uid !== 'string' || typeof id !== 'string') throw new Error('not [uid, id]');
      } catch {
        await this.o.redis.zrem(keys.listenerHeartbeats(), m);
        continue;
      }
      const snap = await this.doc(uid, id).get();
      const hb = millis(snap.get('last_heartbeat'));
      if (!snap.exists) await this.o.redis.zrem(keys.listenerHeartbeats(), m);
      else if (hb !== undefined && hb > cutoff) await this.o.redis.zadd(keys.listenerHeartbeats(), hb, m);
      else {
        await this.drop(uid, snap);
        expired++;
      }
    }
    if (expired > 0) this.o.logger.info({ expired }, 'expired stale listeners');
    return expired;
  }

  async startWorkflowListenerForJob(userId: string, jobId: string): Promise<boolean> {
    if (!this.o.workflowEnabled) return false;
    await this.o.wanted.add(userId, { kind: 'workflow', job: jobId });
    return true;
  }

  async stopWorkflowListenerForJob(userId: string, jobId: string): Promise<boolean> {
    const spec = { kind: 'workflow', job: jobId } as const;
    if ((await this.o.wanted.refs(userId, spec)) <= 0) return false;
    await this.o.wanted.remove(userId, spec);
    return true;
  }
}
