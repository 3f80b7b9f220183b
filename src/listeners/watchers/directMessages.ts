import type { Database, DataSnapshot } from 'firebase-admin/database';
import { makeEvent } from '../../shared/events.js';
import { byTimestampDesc, messageItem } from '../normalize.js';
import type { WatchContext, Watcher } from './types.js';

/**
 * Realtime Database `clients/{uid}/direct_message_notif` → `msg.sync` on attach and after every
 * change ({messages, count, timestamp}; items as notifications without read / info_message).
 */
export function watchDirectMessages(ctx: WatchContext, database: Database): Watcher {
  const w = ctx.resilient('direct_messages', (cb) => {
    const ref = database.ref(`clients/${ctx.uid}/direct_message_notif`);
    const onValue = (snap: DataSnapshot) => {
      cb.onHealthy();
      const val = snap.val() as Record<string, unknown> | null;
      const list = byTimestampDesc(Object.entries(val && typeof val === 'object' ? val : {}).map(([k, v]) => messageItem(k, v)));
      ctx.publish(makeEvent('msg.sync', ctx.uid, { messages: list, count: list.length, timestamp: new Date().toISOString() }));
    };
    ref.on('value', onValue, (err: Error) => cb.onError(err));
    return () => ref.off('value', onValue);
  });
  return { stop: () => w.stop() };
}
