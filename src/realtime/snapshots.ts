/**
 * `notif.sync` and `msg.sync` payloads (CONTRACT §6) built from their sources, for the gateway's
 * sync on socket (re)connect. Items come from the one normaliser the listeners use
 * (`listeners/normalize.ts`, CONTRACT §13.4), so the sync a socket gets on connect is the same JSON
 * as the listener's: same derived fields, same company filter, same order.
 */
import type { Database } from 'firebase-admin/database';
import type { Firestore } from 'firebase-admin/firestore';
import { byTimestampDesc, companyAllowed, messageItemsFromNode, notificationItem, type MessageItem, type NotificationItem } from '../listeners/normalize.js';

export function notifSyncPayload(items: NotificationItem[], now = new Date()): { notifications: NotificationItem[]; count: number; timestamp: string } {
  return { notifications: items, count: items.length, timestamp: now.toISOString() };
}

export function msgSyncPayload(items: MessageItem[], now = new Date()): { messages: MessageItem[]; count: number; timestamp: string } {
  return { messages: items, count: items.length, timestamp: now.toISOString() };
}

/** `listeners_registry/{uid}.authorized_companies_ids` (empty when absent). */
export async function authorizedCompanies(firestore: Firestore, uid: string): Promise<string[]> {
  const snap = await firestore.collection('listeners_registry').doc(uid).get();
  const v: unknown = snap.exists ? snap.get('authorized_companies_ids') : undefined;
  return Array.isArray(v) ? v.filter((x): x is string | number => typeof x === 'string' || typeof x === 'number').map(String) : [];
}

/**
 * Unread notifications of `clients/{uid}/notifications`, company-filtered, newest first. The query
 * starts at once, alongside the companies read (pass a shared promise to read them once).
 */
export async function loadNotifications(firestore: Firestore, uid: string, companies?: Promise<readonly string[]>): Promise<NotificationItem[]> {
  const [allowed, snap] = await Promise.all([
    companies ?? authorizedCompanies(firestore, uid),
    firestore.collection('clients').doc(uid).collection('notifications').where('read', '==', false).get(),
  ]);
  return byTimestampDesc(snap.docs.map((d) => notificationItem(d.id, d.data())).filter((i) => companyAllowed(i.collection_id, allowed)));
}

/** Direct messages of RTDB `clients/{uid}/direct_message_notif`, company-filtered, newest first. */
export async function loadDirectMessages(database: Database, uid: string, companies: Promise<readonly string[]>): Promise<MessageItem[]> {
  const [allowed, snap] = await Promise.all([companies, database.ref(`clients/${uid}/direct_message_notif`).once('value')]);
  return messageItemsFromNode(snap.val() as unknown, allowed);
}
