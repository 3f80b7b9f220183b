import type { Database, DataSnapshot, Query, Reference } from 'firebase-admin/database';
import { makeEvent } from '../../shared/events.js';
import type { ChatMode } from '../ids.js';
import type { WatchContext, Watcher } from './types.js';

/**
 * Realtime Database `{space}/{chats|job_chats}/{thread}/messages` → `chat.message`
 * `{space_code, thread_key, raw_messages:[{id, ...}]}` on the chat channel. Only new messages: the
 * newest existing key is the starting point (kept across re-attaches, so nothing between an error
 * and the re-attach is lost); messages arriving in one tick go out as one event. Read-only.
 */
export function watchChat(ctx: WatchContext, database: Database, spec: { space: string; thread: string; mode: ChatMode }): Watcher {
  const path = `${spec.space}/${spec.mode}/${spec.thread}/messages`;
  let lastKey: string | null | undefined; // undefined = not known yet; null = thread was empty
  const batch = tickBatch<Record<string, unknown>>((raw) => {
    ctx.publish(makeEvent('chat.message', ctx.uid, { space_code: spec.space, thread_key: spec.thread, raw_messages: raw }), { space: spec.space, thread: spec.thread });
  });
  const w = ctx.resilient('chat', (cb) => {
    const ref = database.ref(path);
    let cancelled = false;
    let query: Query | undefined;
    const onChild = (s: DataSnapshot) => {
      if (s.key === null || s.key === lastKey) return;
      lastKey = s.key;
      const v = s.val() as unknown;
      batch.push({ id: s.key, ...(v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : { value: v }) });
    };
    const listen = () => {
      if (cancelled) return;
      query = lastKey ? ref.orderByKey().startAt(lastKey) : ref.orderByKey();
      query.on('child_added', onChild, (err: Error) => cb.onError(err));
    };
    if (lastKey !== undefined) {
      listen();
      cb.onHealthy();
    } else
      newestKey(ref).then((newest) => {
        if (lastKey === undefined) lastKey = newest;
        listen();
        cb.onHealthy();
      }, (err: Error) => cb.onError(err));
    return () => {
      cancelled = true;
      query?.off('child_added', onChild);
    };
  });
  return {
    stop: () => {
      w.stop();
      batch.flush();
    },
  };
}

/** The key of the thread's newest message (null when the thread is empty): where watching starts. */
async function newestKey(ref: Reference): Promise<string | null> {
  const snap = await ref.orderByKey().limitToLast(1).once('value');
  let newest: string | null = null;
  snap.forEach((c) => {
    newest = c.key;
  });
  return newest;
}

/** Collects what arrives in one tick and hands it to `send` as one batch on the next (setImmediate). */
function tickBatch<T>(send: (batch: T[]) => void): { push(item: T): void; flush(): void } {
  let buffer: T[] = [];
  let queued = false;
  const flush = () => {
    queued = false;
    if (buffer.length === 0) return;
    const items = buffer;
    buffer = [];
    send(items);
  };
  return {
    push(item) {
      buffer.push(item);
      if (!queued) {
        queued = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}
