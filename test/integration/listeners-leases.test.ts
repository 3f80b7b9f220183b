import type { Firestore } from 'firebase-admin/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/shared/keys.js';
import { collectChannel, startFirestore, testRedis, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import { notifications, setPresence, startListenerNode, ts, type ListenerNode } from '../helpers/listeners.js';

const USERS = 40;
/**
 * Two instances, 80 watchers and the emulator share one event loop on a loaded machine: a longer
 * lease than FAST so a stalled loop does not expire every lease at once.
 */
const TIMING = { leaseTtlMs: 5000, leaseRenewMs: 800, leaseRetryMs: 300 };
let fs: FirestoreEmulator;
let a: ListenerNode;
let b: ListenerNode | undefined;
let db: Firestore;

beforeAll(async () => {
  fs = await startFirestore();
  a = await startListenerNode({ options: TIMING });
  db = a.svc.core.firebase.firestore;
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  fs?.stop();
});

type Msg = Record<string, unknown>;

/**
 * Everything published for `users`, whichever channel it travels on: the consumer channel
 * `user:{uid}` and the internal delta channel `rt:deltas:{uid}` (CONTRACT §13.5 decision: deltas
 * move there when LISTENERS_REDIS_DELTAS is off).
 */
async function observe(users: string[]) {
  return collectChannel(users.flatMap((u) => [`user:${u}`, `rt:deltas:${u}`]));
}

const held = (n: ListenerNode) => n.listeners.coordinator.sessions.size;
const owns = (n: ListenerNode | undefined, uid: string) => n?.listeners.coordinator.sessions.has(uid) ?? false;
const adds = (msgs: Msg[], uid: string, docId: string) =>
  msgs.filter((m) => m.uid === uid && m.type === 'notif.add' && (m.payload as { doc_id?: string }).doc_id === docId).length;

async function writeAll(users: string[], docId: string, iso: string) {
  await Promise.all(users.map((uid) => notifications(db, uid).doc(docId).set({ collection_id: 'c', timestamp: ts(iso), read: false })));
}

describe('listener leases spread over instances', () => {
  it('a joining instance gets a fair share by clean handover; a dead owner’s users move within the lease TTL with the gap’s changes as notif.add', async () => {
    const users = Array.from({ length: USERS }, () => uniq('lu'));
    const ch = await observe(users);

    // One instance alone takes everyone.
    for (const uid of users) await setPresence(db, uid);
    await waitFor(() => held(a) === USERS, 30000, 'instance A holds all 40 users');
    await waitFor(() => users.every((u) => ch.messages.some((m) => m.uid === u && m.type === 'notif.sync')), 20000, 'initial syncs');

    // A second instance joins: A sheds down to its fair share, B takes the rest.
    b = await startListenerNode({ options: TIMING });
    const bNode = b;
    // Changes written while the users move: each must arrive exactly once, from the old owner
    // (published before it stopped) or from the new one (live, or as a takeover delta).
    const during = writeAll(users, 'h1', '2025-01-01T00:00:00Z');
    await waitFor(
      () => held(a) + held(bNode) === USERS && users.every((u) => owns(a, u) !== owns(bNode, u)) && held(a) <= 25 && held(bNode) >= 15,
      30000,
      'the users spread over both instances',
    );
    await during;
    expect(held(a)).toBeGreaterThanOrEqual(15);
    expect(held(a)).toBeLessThanOrEqual(25);
    expect(held(bNode)).toBeGreaterThanOrEqual(15);
    expect(held(bNode)).toBeLessThanOrEqual(25);
    const spread = `${held(a)}/${held(bNode)}`;
    await writeAll(users, 'h1_marker', '2025-01-01T00:00:01Z');
    await waitFor(() => users.every((u) => adds(ch.messages, u, 'h1_marker') === 1), 20000, 'markers after the handover');
    expect(users.map((u) => adds(ch.messages, u, 'h1'))).toEqual(users.map(() => 1));

    // The owner with more users dies: its Redis connection drops, nothing is released.
    const victim = held(a) >= held(bNode) ? a : bNode;
    const survivor = victim === a ? bNode : a;
    const moved = users.filter((u) => owns(victim, u));
    const t0 = Date.now();
    victim.svc.core.redis.client.disconnect();
    await writeAll(users, 'gap', '2025-01-01T00:00:02Z');
    const bound = TIMING.leaseTtlMs + TIMING.leaseRenewMs + TIMING.leaseRetryMs + 3000;
    await waitFor(() => held(survivor) === USERS, bound, 'the survivor holds all 40 users');
    const takeoverMs = Date.now() - t0;
    await waitFor(() => moved.every((u) => !owns(victim, u)), TIMING.leaseTtlMs + 2000, 'the deposed owner detached');
    const r = await testRedis('leases-check');
    for (const u of users) expect(await r.client.get(keys.lease(u))).toMatch(new RegExp(`^${survivor.svc.core.deps.config.instanceId}\\|`));
    await r.close();

    // The change written while nobody watched the moved users arrives as a delta, exactly once.
    await waitFor(() => users.every((u) => adds(ch.messages, u, 'gap') >= 1), 20000, 'gap notifications as notif.add');
    await writeAll(users, 'gap_marker', '2025-01-01T00:00:03Z');
    await waitFor(() => users.every((u) => adds(ch.messages, u, 'gap_marker') === 1), 20000, 'markers after the takeover');
    expect(users.map((u) => adds(ch.messages, u, 'gap'))).toEqual(users.map(() => 1));
    const ids = ch.messages.map((m) => m.event_id);
    expect(new Set(ids).size).toBe(ids.length);
    console.log(`leases: after the handover ${spread} users; takeover of ${moved.length} users ${takeoverMs} ms after the owner died (lease TTL ${TIMING.leaseTtlMs} ms)`);
    await ch.close();
  }, 120_000);
});
