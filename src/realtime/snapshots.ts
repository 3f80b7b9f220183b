/**
 * `notif.sync` and `msg.sync` payloads (CONTRACT §6) built from their sources. Shared by the
 * gateway (sync on socket (re)connect) and, if it wants, the listeners module.
 */
import type { Database } from 'firebase-admin/database';
import type { Firestore } from 'firebase-admin/firestore';
import { toJsonSafe } from '../shared/events.js';

export const NOTIFICATION_FIELDS = [
  'job_id',
  'file_id',
  'file_name',
  'status',
  'collection_id',
  'collection_name',
  'function_name',
  'timestamp',
  'read',
  'additional_info',
  'info_message',
  'message',
  'url',
] as const;

/** Direct messages: the notification item without `read` and `info_message`. */
export const MESSAGE_FIELDS = NOTIFICATION_FIELDS.filter((f) => f !== 'read' && f !== 'info_message');

export type SyncItem = { doc_id: string } & Record<string, unknown>;

function pick(docId: string, data: Record<string, unknown>, fields: readonly string[]): SyncItem {
  const safe = (toJsonSafe(data) ?? {}) as Record<string, unknown>;
  const item: SyncItem = { doc_id: docId };
  for (const f of fields) item[f] = safe[f] ?? (f === 'read' ? false : null);
  return item;
}

export function notificationItem(docId: string, data: Record<string, unknown>): SyncItem {
  return pick(docId, data, NOTIFICATION_FIELDS);
}

export function messageItem(id: string, data: Record<string, unknown>): SyncItem {
  return pick(id, data, MESSAGE_FIELDS);
}

/** Only items whose collection is authorized (all when the list is empty), newest first. */
export function authorizedSorted(items: SyncItem[], authorized: readonly string[]): SyncItem[] {
  const allowed = new Set(authorized.map(String));
  const kept = allowed.size === 0 ? items : items.filter((i) => i.collection_id !== null && allowed.has(String(i.collection_id)));
  return [...kept].sort((a, b) => timeKey(b.timestamp) - timeKey(a.timestamp));
}

function timeKey(v: unknown): number {
  if (typeof v === 'number') return v < 1e12 ? v * 1000 : v;
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? -Infinity : t;
  }
  return -Infinity;
}

export function notifSyncPayload(items: SyncItem[], now = new Date()): { notifications: SyncItem[]; count: number; timestamp: string } {
  return { notifications: items, count: items.length, timestamp: now.toISOString() };
}

export function msgSyncPayload(items: SyncItem[], now = new Date()): { messages: SyncItem[]; count: number; timestamp: string } {
  return { messages: items, count: items.length, timestamp: now.toISOString() };
}

/** `listeners_registry/{uid}.authorized_companies_ids` (empty when absent). */
export async function authorizedCompanies(firestore: Firestore, uid: string): Promise<string[]> {
  const snap = await firestore.collection('listeners_registry').doc(uid).get();
  const v: unknown = snap.exists ? snap.get('authorized_companies_ids') : undefined;
  return Array.isArray(v) ? v.map(String) : [];
}

/** Unread notifications of `clients/{uid}/notifications`, filtered and sorted. */
export async function loadNotifications(firestore: Firestore, uid: string): Promise<SyncItem[]> {
  const [companies, snap] = await Promise.all([
    authorizedCompanies(firestore, uid),
    firestore.collection('clients').doc(uid).collection('notifications').where('read', '==', false).get(),
  ]);
  return authorizedSorted(
    snap.docs.map((d) => notificationItem(d.id, d.data())),
    companies,
  );
}

/** Direct messages of RTDB `clients/{uid}/direct_message_notif`, newest first. */
export async function loadDirectMessages(database: Database, uid: string): Promise<SyncItem[]> {
  const snap = await database.ref(`clients/${uid}/direct_message_notif`).once('value');
  const val = snap.val() as Record<string, unknown> | null;
  if (!val || typeof val !== 'object') return [];
  const items = Object.entries(val)
    .filter(([, v]) => v !== null && typeof v === 'object')
    .map(([id, v]) => messageItem(id, v as Record<string, unknown>));
  return authorizedSorted(items, []);
}
