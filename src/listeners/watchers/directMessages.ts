import type { Database, DataSnapshot } from 'firebase-admin/database';
import { makeEvent } from '../../shared/events.js';
import { messageItemsFromNode } from '../normalize.js';
import type { WatchContext, Watcher } from './types.js';

/**
 * Realtime Database `clients/{uid}/direct_message_notif` → `msg.sync` on attach and after every
 * change ({messages, count, timestamp}; items as notifications without read / info_message, filtered
 * by the user's authorized companies like notifications, entries that are not objects skipped).
 */
export function watchDirectMessages(ctx: WatchContext, database: Database): Watcher & { resync(): void } {
  let last: { val: unknown } | undefined;
  const sync = () => {
    if (!last) return;
    const list = messageItemsFromNode(last.val, ctx.companies());
    ctx.publish(makeEvent('msg.sync', ctx.uid, { messages: list, count: list.length, timestamp: new Date().toISOString() }));
  };
  const w = ctx.resilient('direct_messages', (cb) => {
    const ref = database.ref(`clients/${ctx.uid}/direct_message_notif`);
    const onValue = (snap: DataSnapshot) => {
      cb.onHealthy();
      last = { val: snap.val() as unknown };
      sync();
    };
    ref.on('value', onValue, (err: Error) => cb.onError(err));
    return () => ref.off('value', onValue);
  });
  return { stop: () => w.stop(), resync: sync };
}
