import FirebaseServer from 'firebase-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEvent, type EventEnvelope } from '../../src/shared/events.js';
import { keys } from '../../src/shared/keys.js';
import { freePort } from '../helpers/net.js';
import { startFirestore, testRedis, TEST_TOKEN, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import type { RedisHandle } from '../../src/shared/redis.js';
import { idToken, startAuthEmulator, type AuthEmulator } from '../helpers/realtimeAuth.js';
import { clientTracker, connected, recordSocket, recordWs, refused, startGatewayNode, type GatewayNode, type RecordingSocket } from '../helpers/realtimeNode.js';

/**
 * Three gateway nodes on one real Redis, one Firestore emulator, one Realtime Database server
 * (firebase-server) and an accounts:lookup stand-in for Firebase Auth; real socket.io-client and
 * `ws` clients over TCP.
 */
let fs: FirestoreEmulator;
let authEmu: AuthEmulator;
let rtdb: FirebaseServer;
let redis: RedisHandle;
let nodes: GatewayNode[] = [];
const GRACE_MS = 300;
const { track, closeAll } = clientTracker();

beforeAll(async () => {
  fs = await startFirestore();
  authEmu = await startAuthEmulator();
  const rtdbPort = await freePort();
  rtdb = new FirebaseServer({ port: rtdbPort, address: '127.0.0.1' }, 'demo-test', null);
  (rtdb as unknown as { setAuthSecret?: (s: string) => void }).setAuthSecret?.('owner');
  redis = await testRedis('realtime-test');
  const env = { FIREBASE_DATABASE_EMULATOR_HOST: `127.0.0.1:${rtdbPort}`, EVENT_HISTORY_MAXLEN: '50' };
  nodes = await Promise.all([0, 1, 2].map(() => startGatewayNode({ env, gateway: { presence: { graceMs: GRACE_MS, heartbeatMs: 200, connectionTtlMs: 5000 } } })));
});

afterAll(async () => {
  closeAll();
  await Promise.all(nodes.map((n) => n.close()));
  await redis?.close();
  await authEmu?.stop();
  await rtdb?.close();
  fs?.stop();
});

const numsub = async (uid: string) => {
  const r = (await redis.client.call('PUBSUB', 'NUMSUB', `user:${uid}`)) as [string, number];
  return Number(r[1]);
};

async function socketFor(node: GatewayNode, uid: string, extra: Record<string, unknown> = {}): Promise<RecordingSocket> {
  const s = track(recordSocket(node.url, { token: idToken(uid), ...extra }));
  await connected(s.socket);
  await s.next((e) => e.type === 'notif.sync');
  return s;
}

describe('realtime gateway across nodes', () => {
  it('delivers a user\'s events to their sockets on every node and nobody else\'s; nodes subscribe only for local users', async () => {
    const [a, b, c] = nodes as [GatewayNode, GatewayNode, GatewayNode];
    const alice = uniq('alice');
    const bob = uniq('bob');
    expect(await numsub(alice)).toBe(0);
    const aliceOnA = await socketFor(a, alice);
    const aliceOnB = track(recordSocket(b.url, { service_token: TEST_TOKEN, uid: alice }));
    await connected(aliceOnB.socket);
    await aliceOnB.next((e) => e.type === 'notif.sync');
    const bobOnB = await socketFor(b, bob);
    // deltas=1: this /ws client takes notif.add/update/remove (CONTRACT §13.5).
    const aliceWs = track(recordWs(c.url, { token: idToken(alice), deltas: '1' }));
    await aliceWs.opened;
    await waitFor(() => aliceWs.frames.some((f) => f.type === 'notif.sync'), 10000, 'ws notif.sync');
    // One SUBSCRIBE per node that holds alice's connections (A, B, C), none elsewhere, no PSUBSCRIBE on user channels.
    expect(await numsub(alice)).toBe(3);
    expect(await numsub(bob)).toBe(1);
    // ...and the same nodes hold the internal deltas channel (CONTRACT §13.5).
    const deltasSubs = (await redis.client.call('PUBSUB', 'NUMSUB', `rt:deltas:${alice}`)) as [string, number];
    expect(Number(deltasSubs[1])).toBe(3);

    // Published by node C's core publisher (as workers and listeners do) and by a raw PUBLISH.
    const e1 = makeEvent('notif.add', alice, { doc_id: 'n1', file_name: 'a.pdf' });
    await c.core.deps.publisher.publishUser(e1);
    const e2 = makeEvent('workflow.step_update', bob, { step_changes: { APBookeeper_step_status: { s1: 1 } } }, { job_id: 'job1' });
    await redis.client.publish(`user:${bob}`, JSON.stringify(e2));

    for (const s of [aliceOnA, aliceOnB]) expect((await s.next((e) => e.event_id === e1.event_id)).payload).toEqual(e1.payload);
    await waitFor(() => aliceWs.frames.some((f) => f.event_id === e1.event_id), 10000, 'ws delivery');
    const got = await bobOnB.next((e) => e.event_id === e2.event_id);
    expect(got.job_id).toBe('job1');

    // A mis-addressed envelope (bob's uid on alice's channel) is dropped, never shown to alice.
    const misaddressed = makeEvent('notif.add', bob, { doc_id: 'not-for-alice' });
    await redis.client.publish(`user:${alice}`, JSON.stringify(misaddressed));

    // Ordering fence: a later event for each user arrived, so anything leaked would be there by now.
    const fenceA = makeEvent('notif.remove', alice, { doc_id: 'fence' });
    const fenceB = makeEvent('notif.remove', bob, { doc_id: 'fence' });
    await a.core.deps.publisher.publishUser(fenceA);
    await a.core.deps.publisher.publishUser(fenceB);
    await aliceOnA.next((e) => e.event_id === fenceA.event_id);
    await bobOnB.next((e) => e.event_id === fenceB.event_id);
    await waitFor(() => aliceWs.frames.some((f) => f.event_id === fenceA.event_id), 10000, 'ws fence');
    for (const s of [aliceOnA, aliceOnB]) expect(s.events.every((e) => e.uid === alice)).toBe(true);
    expect(aliceWs.frames.every((f) => f.uid === alice)).toBe(true);
    expect([...aliceOnA.events, ...aliceOnB.events, ...aliceWs.frames].some((e) => e.event_id === misaddressed.event_id)).toBe(false);
    expect(bobOnB.events.every((e) => e.uid === bob)).toBe(true);
    // Exactly once per socket.
    expect(aliceOnA.events.filter((e) => e.event_id === e1.event_id)).toHaveLength(1);

    // The adapter still reaches sockets on other nodes (room operations across nodes).
    // (fetchSockets asks every node and times out after the adapter's 5 s on a cold, loaded run: retried.)
    await waitFor(async () => (await a.gateway.io.in(`user:${alice}`).fetchSockets()).length === 2, 20000, 'fetchSockets across nodes');

    aliceOnA.close();
    aliceOnB.close();
    aliceWs.close();
    await waitFor(async () => (await numsub(alice)) === 0, 10000, 'unsubscribe after last local connection');
    expect(await numsub(bob)).toBe(1);
  });

  it('refuses bad, expired, other-project and missing tokens, wrong service tokens, foreign origins, and ?uid= alone on /ws', async () => {
    const n = nodes[0]!;
    const uid = uniq('u');
    const failuresBefore = await n.core.deps.metrics.value('realtime_auth_failures_total');
    const cases: Array<[Record<string, unknown>, string]> = [
      [{}, 'UNAUTHORIZED'],
      [{ uid }, 'UNAUTHORIZED'],
      [{ token: 'not-a-jwt' }, 'UNAUTHORIZED'],
      [{ token: idToken(uid, { expiresInSec: -60, issuedSecAgo: 4000 }) }, 'TOKEN_EXPIRED'],
      [{ token: idToken(uid, { project: 'someone-else' }) }, 'UNAUTHORIZED'],
      [{ service_token: 'wrong-token', uid }, 'FORBIDDEN'],
      [{ service_token: TEST_TOKEN }, 'INVALID_REQUEST'],
    ];
    for (const [auth, code] of cases) {
      const s = track(recordSocket(n.url, auth));
      const err = await refused(s.socket);
      expect(err.data?.code, JSON.stringify(auth)).toBe(code);
      expect(err.message.length).toBeGreaterThan(10);
    }
    authEmu.disabled.add(uid);
    const disabled = track(recordSocket(n.url, { token: idToken(uid) }));
    expect((await refused(disabled.socket)).data?.code).toBe('FORBIDDEN');
    authEmu.disabled.delete(uid);

    const foreign = track(recordSocket(n.url, { token: idToken(uid) }, { extraHeaders: { origin: 'https://evil.example' } }));
    expect((await refused(foreign.socket)).message).toMatch(/websocket error|origin/i);

    for (const [q, headers, status] of [
      [{ uid }, {}, 401],
      [{}, {}, 401],
      [{ token: idToken(uid, { expiresInSec: -60, issuedSecAgo: 4000 }) }, {}, 401],
      [{ token: idToken(uid, { project: 'someone-else' }) }, {}, 401],
      [{ service_token: 'wrong', uid }, {}, 403],
      [{ uid }, { authorization: 'Bearer wrong' }, 403],
    ] as Array<[Record<string, string>, Record<string, string>, number]>) {
      const w = track(recordWs(n.url, q, headers));
      await expect(w.opened).rejects.toMatchObject({ status });
    }
    const ok = track(recordWs(n.url, { uid }, { authorization: `Bearer ${TEST_TOKEN}` }));
    await ok.opened;
    ok.close();
    expect(await n.core.deps.metrics.value('realtime_auth_failures_total')).toBeGreaterThanOrEqual(failuresBefore + cases.length + 8);
  });

  it('sends fresh notif.sync (authorized, unread, newest first) and msg.sync on connect', async () => {
    const n = nodes[1]!;
    const uid = uniq('sync');
    const db = n.core.firebase.firestore;
    await db.collection('listeners_registry').doc(uid).set({ authorized_companies_ids: ['c1'] });
    const notes = db.collection('clients').doc(uid).collection('notifications');
    await notes.doc('old').set({ read: false, collection_id: 'c1', file_name: 'old.pdf', timestamp: '2025-01-01T10:00:00.000Z' });
    await notes.doc('new').set({ read: false, collection_id: 'c1', file_name: 'new.pdf', timestamp: '2025-01-02T10:00:00.000Z', job_id: 'j2' });
    await notes.doc('read').set({ read: true, collection_id: 'c1', timestamp: '2025-01-03T10:00:00.000Z' });
    await notes.doc('other').set({ read: false, collection_id: 'c2', timestamp: '2025-01-03T10:00:00.000Z' });
    await n.core.firebase.database!.ref(`clients/${uid}/direct_message_notif/m1`).set({ message: 'hello', collection_id: 'c1', timestamp: '2025-01-02T00:00:00.000Z' });
    // msg.sync is company-filtered like notif.sync (CONTRACT §13.4); entries that are not objects are skipped.
    await n.core.firebase.database!.ref(`clients/${uid}/direct_message_notif/m2`).set({ message: 'other company', collection_id: 'c2' });
    await n.core.firebase.database!.ref(`clients/${uid}/direct_message_notif/m3`).set('not an object');

    const s = await socketFor(n, uid);
    const notif = s.of('notif.sync')[0]!;
    const payload = notif.payload as { notifications: Array<Record<string, unknown>>; count: number };
    expect(payload.count).toBe(2);
    expect(payload.notifications.map((x) => x.doc_id)).toEqual(['new', 'old']);
    // The same items as the listeners build (CONTRACT §13.4).
    expect(payload.notifications[0]).toEqual({ doc_id: 'new', job_id: 'j2', file_id: '', file_name: 'new.pdf', status: 'info', collection_id: 'c1', collection_name: '', function_name: '', timestamp: '2025-01-02T10:00:00.000Z', read: false, additional_info: '{}', info_message: '', message: 'new.pdf - info', url: '/edit_form/j2' });
    const msg = await s.next((e) => e.type === 'msg.sync');
    expect(msg.payload).toMatchObject({ count: 1, messages: [{ doc_id: 'm1', message: 'Document - info' }] });
    expect(msg.payload.messages as unknown[]).toHaveLength(1);
    expect(Object.keys((msg.payload.messages as Array<Record<string, unknown>>)[0]!)).not.toContain('read');
    s.close();
  });

  it('replays exactly the missed events, in order, without duplicates, on reconnect with the last event_id', async () => {
    const [a, b] = nodes as [GatewayNode, GatewayNode];
    const uid = uniq('replay');
    const pub = (i: number) => a.core.deps.publisher.publishUser(makeEvent('notif.add', uid, { doc_id: `n${i}` }));
    const first = await socketFor(a, uid);
    for (let i = 1; i <= 3; i++) await pub(i);
    await first.next((e) => (e.payload as { doc_id?: string }).doc_id === 'n3');
    const last = first.of('notif.add').at(-1)!;
    first.close();
    await waitFor(async () => (await numsub(uid)) === 0, 10000, 'first socket gone');
    for (let i = 4; i <= 6; i++) await pub(i);

    // Reconnect on another node while events keep coming: missed ones replayed, live ones once.
    const second = track(recordSocket(b.url, { token: idToken(uid), last_event_id: last.event_id }));
    const live = (async () => {
      for (let i = 7; i <= 12; i++) await pub(i);
    })();
    await connected(second.socket);
    await live;
    await second.next((e) => (e.payload as { doc_id?: string }).doc_id === 'n12');
    const adds = second.of('notif.add').map((e) => (e.payload as { doc_id: string }).doc_id);
    expect(adds).toEqual(['n4', 'n5', 'n6', 'n7', 'n8', 'n9', 'n10', 'n11', 'n12']);
    expect(new Set(second.events.map((e) => e.event_id)).size).toBe(second.events.length);
    // The fresh syncs come after the replayed events.
    const idxSync = second.events.findIndex((e) => e.type === 'notif.sync');
    expect(idxSync).toBeGreaterThan(second.events.findIndex((e) => (e.payload as { doc_id?: string }).doc_id === 'n6'));
    await waitFor(() => second.replayed.length === 1, 5000, 'replayed notice');
    expect(second.replayed[0]).toMatchObject({ complete: true, last_event_id: last.event_id });
    // n4..n6 at least; live ones published before the history was read are replayed instead of delivered live.
    expect(second.replayed[0]!.replayed).toBeGreaterThanOrEqual(3);

    // On demand, with an id that left the history: everything kept, complete:false.
    const ack = (await second.socket.timeout(5000).emitWithAck('replay', 'no-such-id')) as { replayed: number; complete: boolean };
    expect(ack.complete).toBe(false);
    // n1..n3 were never sent on this socket; n4..n12 were, and are not sent twice.
    expect(ack.replayed).toBe(3);
    await second.next((e) => (e.payload as { doc_id?: string }).doc_id === 'n1');
    expect(new Set(second.events.map((e) => e.event_id)).size).toBe(second.events.length);
    const fresh = await socketFor(a, uid);
    const ack2 = (await fresh.socket.timeout(5000).emitWithAck('replay', 'no-such-id')) as { replayed: number; complete: boolean };
    expect(ack2).toEqual({ replayed: 12, complete: false });
    expect(fresh.of('notif.add').map((e) => (e.payload as { doc_id: string }).doc_id)).toEqual(Array.from({ length: 12 }, (_, i) => `n${i + 1}`));

    // /ws too (with deltas=1, as the events are deltas): ?last_event_id= replays.
    const w = track(recordWs(b.url, { token: idToken(uid), last_event_id: last.event_id, deltas: '1' }));
    await w.opened;
    await waitFor(() => w.frames.some((f) => f.type === 'replay.result'), 10000, 'ws replay result');
    expect(w.frames.filter((f) => f.type === 'notif.add').map((f) => (f.payload as { doc_id: string }).doc_id)).toEqual(['n4', 'n5', 'n6', 'n7', 'n8', 'n9', 'n10', 'n11', 'n12']);
    second.close();
    fresh.close();
    w.close();
  });

  it('keeps presence online while one of two sockets (on two nodes) closes; offline after both close plus grace', async () => {
    const [a, b] = nodes as [GatewayNode, GatewayNode];
    const uid = uniq('presence');
    const doc = () => a.core.firebase.firestore.collection('listeners_registry').doc(uid).get();
    const s1 = await socketFor(a, uid);
    const s2 = await socketFor(b, uid);
    await waitFor(async () => (await doc()).get('status') === 'online', 10000, 'online');
    const hb1 = (await doc()).get('heartbeat_at');
    expect(hb1?.constructor?.name).toBe('Timestamp');
    // Heartbeats keep heartbeat_at moving while connected.
    await waitFor(async () => (await doc()).get('heartbeat_at').toMillis() > hb1.toMillis(), 10000, 'heartbeat refresh');

    const checks = () => a.core.deps.metrics.value('realtime_presence_checks_total', { result: 'still_online' });
    const before = await checks();
    s1.close();
    await waitFor(async () => (await a.gateway.presence!.liveCount(uid)) === 1, 10000, 'one live connection');
    expect(await redis.client.zcard(keys.presenceSockets(uid))).toBe(1);
    // Node a's grace check ran after its last local socket closed and found b's live connection.
    await waitFor(async () => (await checks()) > before, 10000, 'grace check on node a');
    expect((await doc()).get('status')).toBe('online');

    s2.close();
    await waitFor(async () => (await doc()).get('status') === 'offline', 10000, 'offline after grace');
    expect(await a.gateway.presence!.liveCount(uid)).toBe(0);
  });

  it('does not hang shutdown on open sockets', async () => {
    const node = await startGatewayNode({ gateway: { presence: false } });
    const uid = uniq('bye');
    const s = await socketFor(node, uid);
    const w = track(recordWs(node.url, { token: idToken(uid) }));
    await w.opened;
    const disconnected = new Promise<string>((r) => s.socket.once('disconnect', (reason) => r(reason)));
    const wsClosed = new Promise<number>((r) => w.ws.once('close', (code) => r(code)));
    await node.close();
    expect(await disconnected).toBe('io server disconnect');
    expect(await wsClosed).toBe(1001);
    expect(await numsub(uid)).toBe(0);
  });
});

export type { EventEnvelope };
