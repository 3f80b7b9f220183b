import type { DocumentChange, Firestore } from 'firebase-admin/firestore';
import { makeEvent } from '../../shared/events.js';
import { byTimestampDesc, companyAllowed, notificationItem, type NotificationItem } from '../normalize.js';
import type { WatchContext, Watcher } from './types.js';

export interface NotificationsWatcher extends Watcher {
  /** Publishes a fresh notif.sync (e.g. after the authorized companies changed). */
  resync(): void;
}

/**
 * `clients/{uid}/notifications` where read == false (CONTRACT §6): `notif.sync` on attach and after
 * each change batch; `notif.add` / `notif.update` / `notif.remove` per change, company-filtered.
 */
export function watchNotifications(ctx: WatchContext, firestore: Firestore): NotificationsWatcher {
  let items = new Map<string, NotificationItem>();
  let ready = false;
  const allowed = (i: NotificationItem | undefined) => i !== undefined && companyAllowed(i.collection_id, ctx.companies());
  const sync = () => {
    const list = byTimestampDesc([...items.values()].filter(allowed));
    ctx.publish(makeEvent('notif.sync', ctx.uid, { notifications: list, count: list.length, timestamp: new Date().toISOString() }));
  };
  const w = ctx.resilient('notifications', (cb) => {
    let first = true;
    return firestore
      .collection('clients')
      .doc(ctx.uid)
      .collection('notifications')
      .where('read', '==', false)
      .onSnapshot(
        (snap) => {
          cb.onHealthy();
          if (first) {
            // Initial load (also after a re-attach): the full state, no deltas.
            first = false;
            items = new Map(snap.docs.map((d) => [d.id, notificationItem(d.id, d.data())]));
            ready = true;
            sync();
            return;
          }
          for (const ch of snap.docChanges()) applyChange(ctx, items, ch, allowed);
          sync();
        },
        (err) => cb.onError(err),
      );
  });
  return {
    stop: () => w.stop(),
    resync: () => {
      if (ready) sync();
    },
  };
}

/**
 * One document change: updates `items` and publishes the delta the user can see (a change that moves
 * a notification out of the user's companies is a remove, into them an add).
 */
function applyChange(ctx: WatchContext, items: Map<string, NotificationItem>, ch: DocumentChange, allowed: (i: NotificationItem | undefined) => boolean): void {
  const id = ch.doc.id;
  const before = items.get(id);
  if (ch.type === 'removed') {
    items.delete(id);
    if (allowed(before)) ctx.publish(makeEvent('notif.remove', ctx.uid, { doc_id: id }));
    return;
  }
  const item = notificationItem(id, ch.doc.data());
  items.set(id, item);
  if (ch.type === 'added') {
    if (allowed(item)) ctx.publish(makeEvent('notif.add', ctx.uid, { ...item }));
  } else if (allowed(item)) {
    ctx.publish(makeEvent(allowed(before) ? 'notif.update' : 'notif.add', ctx.uid, { ...item }));
  } else if (allowed(before)) {
    ctx.publish(makeEvent('notif.remove', ctx.uid, { doc_id: id }));
  }
}
