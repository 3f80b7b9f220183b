/**
 * Listener bookkeeping (CONTRACT §4, REGISTRY.*listener* and LISTENERS.*): Firestore documents
 * `listeners_active/{uid}/listeners/{listener_id}` (the parent `listeners_active/{uid}` is written
 * too, so it can be listed), plus a Redis heartbeat index for the expiry job (no collection-group
 * query needed) and the Redis watcher requests that the lease owner turns into chat/workflow
 * watchers (WantedStore).
 *
 * Return shapes (JSON, timestamps ISO-8601):
 * - check_listener_status → {exists, status:"active"|"expired"|"missing", listener_id, listener_type,
 *   user_id, space_code, thread_key, mode, channel, heartbeat_at|null, age_seconds|null, ttl_seconds}
 * - register_listener → {success:true, listener_id, listener_type, channel, status:"active",
 *   created (first registration), refs (registrations asking for the watcher; 0 for notif/msg),
 *   watcher:"requested"|"presence"|"disabled"|"none"}  ("presence": notif/msg watchers follow
 *   presence, "disabled": WORKFLOW_LISTENER_ENABLED=false, "none": workflow without a job id)
 * - unregister_listener → {success:true, listener_id, removed (document deleted), remaining (refs)}
 *   — a chat/workflow listener registered N times needs N unregisters; the last stops the watcher.
 * - update_listener_heartbeat → {success, listener_id, status:"active"|"missing", heartbeat_at|null}
 * - list_user_listeners → [listener document + status + age_seconds], expired ones only when asked
 * - cleanup_user_listeners → {success:true, removed:n, listener_ids:[...]} (all refs dropped)
 * - start_workflow_listener_for_job → true (false when workflow listeners are disabled);
 *   stop_workflow_listener_for_job → true when a request was dropped.
 *
 * Chat `mode` ("chats" default, or "job_chats") picks the RTDB subtree
 * `{space}/{mode}/{thread}/messages`. Watchers run on the instance holding the user's lease while
 * the user is online; a registration for an offline user is kept and its watcher starts when the
 * user comes online.
 */
import { Timestamp, type DocumentSnapshot, type Firestore } from 'firebase-admin/firestore';
import type { ListenerArgs, ListenerService } from '../api/deps.js';
import { toJsonSafe } from '../shared/events.js';
import { keys, type ChannelNames } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import type { RedisClient } from '../shared/redis.js';
import { chatMode, listenerId, specFor, type ListenerType } from './ids.js';
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
}

const TYPES: readonly ListenerType[] = ['chat', 'notif', 'msg', 'workflow'];

function millis(v: unknown): number | undefined {
  if (v instanceof Timestamp) return v.toMillis();
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

export class ListenerBookkeeping implements Required<ListenerService> {
  constructor(private readonly o: BookkeepingOptions) {}

  private doc(uid: string, id: string) {
    return this.o.firestore.collection(ACTIVE_COLLECTION).doc(uid).collection('listeners').doc(id);
  }

  private channel(a: ListenerArgs): string {
    return a.listener_type === 'chat' ? this.o.channels.chat(a.user_id, a.space_code ?? '', a.thread_key ?? '') : this.o.channels.user(a.user_id);
  }

  private indexMember(uid: string, id: string): string {
    return JSON.stringify([uid, id]);
  }

  private status(hbMs: number | undefined, now: number): 'active' | 'expired' {
    return hbMs !== undefined && now - hbMs <= this.o.ttlSeconds * 1000 ? 'active' : 'expired';
  }

  private view(snap: DocumentSnapshot, now = Date.now()): Record<string, unknown> {
    const d = snap.data() ?? {};
    const hb = millis(d.heartbeat_at);
    return {
      ...(toJsonSafe(d) as Record<string, unknown>),
      listener_id: snap.id,
      status: this.status(hb, now),
      age_seconds: hb === undefined ? null : Math.max(0, Math.round((now - hb) / 1000)),
    };
  }

  async checkListenerStatus(a: ListenerArgs): Promise<Record<string, unknown>> {
    const id = listenerId(a);
    const snap = await this.doc(a.user_id, id).get();
    const base = { listener_id: id, listener_type: a.listener_type, user_id: a.user_id, space_code: a.space_code, thread_key: a.thread_key, channel: this.channel(a), ttl_seconds: this.o.ttlSeconds };
    if (!snap.exists) return { exists: false, status: 'missing', ...base, mode: null, heartbeat_at: null, age_seconds: null };
    const v = this.view(snap);
    return { exists: true, ...base, status: v.status, mode: v.mode ?? null, heartbeat_at: v.heartbeat_at ?? null, age_seconds: v.age_seconds };
  }

  async registerListener(a: ListenerArgs & { mode: string | null }): Promise<Record<string, unknown>> {
    const id = listenerId(a);
    const channel = this.channel(a);
    const now = Timestamp.now();
    const mode = a.listener_type === 'chat' ? chatMode(a.mode) : a.mode;
    const ref = this.doc(a.user_id, id);
    const existing = await ref.get();
    const fields = { listener_id: id, listener_type: a.listener_type, user_id: a.user_id, space_code: a.space_code, thread_key: a.thread_key, mode, channel, status: 'active', heartbeat_at: now, instance_id: this.o.instanceId };
    const batch = this.o.firestore.batch();
    batch.set(this.o.firestore.collection(ACTIVE_COLLECTION).doc(a.user_id), { user_id: a.user_id, updated_at: now }, { merge: true });
    batch.set(ref, existing.exists ? fields : { ...fields, created_at: now }, { merge: true });
    await batch.commit();
    await this.o.redis.zadd(keys.listenerHeartbeats(), now.toMillis(), this.indexMember(a.user_id, id));

    const spec = specFor(a, mode);
    let refs = 0;
    let watcher = a.listener_type === 'notif' || a.listener_type === 'msg' ? 'presence' : 'none';
    if (spec && spec.kind === 'workflow' && !this.o.workflowEnabled) watcher = 'disabled';
    else if (spec) {
      refs = await this.o.wanted.add(a.user_id, spec);
      watcher = 'requested';
    }
    return { success: true, listener_id: id, listener_type: a.listener_type, channel, status: 'active', created: !existing.exists, refs, watcher };
  }

  async unregisterListener(a: ListenerArgs): Promise<Record<string, unknown>> {
    const id = listenerId(a);
    const ref = this.doc(a.user_id, id);
    const snap = await ref.get();
    const spec = specFor(a, (snap.get('mode') as string | undefined) ?? null);
    const remaining = spec ? await this.o.wanted.remove(a.user_id, spec) : 0;
    if (remaining > 0) return { success: true, listener_id: id, removed: false, remaining };
    if (snap.exists) await ref.delete();
    await this.o.redis.zrem(keys.listenerHeartbeats(), this.indexMember(a.user_id, id));
    return { success: true, listener_id: id, removed: snap.exists, remaining: 0 };
  }

  async updateListenerHeartbeat(a: ListenerArgs): Promise<Record<string, unknown>> {
    const id = listenerId(a);
    const now = Timestamp.now();
    try {
      await this.doc(a.user_id, id).update({ heartbeat_at: now, status: 'active' });
    } catch (err) {
      if ((err as { code?: number }).code === 5) return { success: false, listener_id: id, status: 'missing', heartbeat_at: null };
      throw err;
    }
    await this.o.redis.zadd(keys.listenerHeartbeats(), now.toMillis(), this.indexMember(a.user_id, id));
    await this.o.wanted.touch(a.user_id);
    return { success: true, listener_id: id, status: 'active', heartbeat_at: now.toDate().toISOString() };
  }

  async listUserListeners(a: { user_id: string; include_expired: boolean }): Promise<Array<Record<string, unknown>>> {
    const snap = await this.o.firestore.collection(ACTIVE_COLLECTION).doc(a.user_id).collection('listeners').get();
    const now = Date.now();
    return snap.docs.map((d) => this.view(d, now)).filter((v) => a.include_expired || v.status === 'active');
  }

  async cleanupUserListeners(a: { user_id: string; listener_types: string[] | null }): Promise<Record<string, unknown>> {
    const types = new Set(a.listener_types ?? TYPES);
    const snap = await this.o.firestore.collection(ACTIVE_COLLECTION).doc(a.user_id).collection('listeners').get();
    const removed: string[] = [];
    for (const d of snap.docs) {
      const type = d.get('listener_type') as ListenerType | undefined;
      if (!type || !types.has(type)) continue;
      await this.drop(a.user_id, d);
      removed.push(d.id);
    }
    return { success: true, removed: removed.length, listener_ids: removed };
  }

  /** Deletes one listener document, its index entry and every request for its watcher. */
  private async drop(uid: string, d: DocumentSnapshot): Promise<void> {
    const type = d.get('listener_type') as ListenerType | undefined;
    const spec = type
      ? specFor({ listener_type: type, space_code: (d.get('space_code') as string | null) ?? null, thread_key: (d.get('thread_key') as string | null) ?? null }, (d.get('mode') as string | null) ?? null)
      : undefined;
    await d.ref.delete();
    await this.o.redis.zrem(keys.listenerHeartbeats(), this.indexMember(uid, d.id));
    if (spec) await this.o.wanted.remove(uid, spec, true);
  }

  async expireStaleListeners(): Promise<number> {
    const now = Date.now();
    const cutoff = now - this.o.ttlSeconds * 1000;
    const members = await this.o.redis.zrangebyscore(keys.listenerHeartbeats(), '-inf', `(${cutoff}`, 'LIMIT', 0, 500);
    let expired = 0;
    for (const m of members) {
      let uid: string, id: string;
      try {
        [uid, id] = JSON.parse(m) as [string, string];
      } catch {
        await this.o.redis.zrem(keys.listenerHeartbeats(), m);
        continue;
      }
      const snap = await this.doc(uid, id).get();
      const hb = millis(snap.get('heartbeat_at'));
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
