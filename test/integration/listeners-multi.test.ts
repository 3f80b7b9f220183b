import type { Firestore } from 'firebase-admin/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/shared/keys.js';
import { collectChannel, startFirestore, testRedis, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import { FAST, notifications, setPresence, startListenerNode, ts, type ListenerNode } from '../helpers/listeners.js';

let fs: FirestoreEmulator;
let a: ListenerNode;
let b: ListenerNode;
let db: Firestore;

beforeAll(async () => {
  fs = await startFirestore();
  a = await startListenerNode();
  b = await startListenerNode();
  db = a.svc.core.firebase.firestore;
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  fs?.stop();
});

const owns = (n: ListenerNode, uid: string) => n.listeners.coordinator.sessions.has(uid);
const adds = (msgs: Array<Record<string, unknown>>, uid: string, docId: string) =>
  msgs.filter((m) => m.uid === uid && m.type === 'notif.add' && (m.payload as { doc_id: string }).doc_id === docId).length;

/** Writes `docId` for every user, then a marker after it; once each marker arrived, counts `docId`. */
async function writeAndCount(ch: Awaited<ReturnType<typeof collectChannel>>, users: string[], docId: string): Promise<number[]> {
  for (const uid of users) await notifications(db, uid).doc(docId).set({ collection_id: 'c', timestamp: ts('2025-01-01T00:00:00Z'), read: false });
  const marker = `${docId}_marker`;
  for (const uid of users) await notifications(db, uid).doc(marker).set({ collection_id: 'c', timestamp: ts('2025-01-01T00:00:01Z'), read: false });
  await waitFor(() => users.every((uid) => adds(ch.messages, uid, marker) >= 1), 15000, `markers ${marker}`);
  return users.map((uid) => adds(ch.messages, uid, docId));
}

describe('two listener instances on one Redis', () => {
  it('run each user on exactly one instance, publish each change once, and move a dead owner’s users within the lease TTL', async () => {
    const users = Array.from({ length: 6 }, () => uniq('u'));
    const ch = await collectChannel(users.map((u) => `user:${u}`));
    for (const uid of users) await setPresence(db, uid);
    await waitFor(() => users.every((u) => owns(a, u) || owns(b, u)), 15000, 'every user attached somewhere');
    expect(users.filter((u) => owns(a, u) && owns(b, u))).toEqual([]);
    await waitFor(() => users.every((u) => ch.messages.some((m) => m.uid === u && m.type === 'notif.sync')), 10000, 'initial syncs');

    expect(await writeAndCount(ch, users, 'n1')).toEqual(users.map(() => 1));
    // One attach → one initial (empty) sync per user (no second owner ever attached). The later
    // syncs follow change batches, and the emulator may deliver n1 and its marker in one batch.
    const initial = (uid: string) => ch.messages.filter((m) => m.uid === uid && m.type === 'notif.sync' && (m.payload as { count: number }).count === 0).length;
    for (const uid of users) expect(initial(uid)).toBe(1);
    const counts = a.svc.core.deps.listenerCounts!().listeners_count + b.svc.core.deps.listenerCounts!().listeners_count;
    expect(counts).toBeGreaterThanOrEqual(users.length);

    // Kill the owner of users[0]: its Redis connection drops without releasing anything.
    const victim = owns(a, users[0]!) ? a : b;
    const survivor = victim === a ? b : a;
    const moved = users.filter((u) => owns(victim, u));
    const acquiredBefore = await survivor.svc.core.deps.metrics.value('listeners_lease_acquired_total');
    victim.svc.core.redis.client.disconnect();
    await waitFor(() => moved.every((u) => owns(survivor, u)), FAST.leaseTtlMs! + FAST.leaseRetryMs! + 3000, 'takeover within the lease TTL');
    await waitFor(() => moved.every((u) => !owns(victim, u)), FAST.leaseTtlMs! + 2000, 'the deposed owner detached');
    expect(await survivor.svc.core.deps.metrics.value('listeners_lease_acquired_total')).toBe(acquiredBefore + moved.length);
    const r = await testRedis('multi-check');
    for (const u of moved) expect(await r.client.get(keys.lease(u))).toMatch(new RegExp(`^${survivor.svc.core.deps.config.instanceId}\\|`));
    await r.close();

    expect(await writeAndCount(ch, users, 'n2')).toEqual(users.map(() => 1));
    const ids = ch.messages.map((m) => m.event_id);
    expect(new Set(ids).size).toBe(ids.length);
    await ch.close();
  });
});
