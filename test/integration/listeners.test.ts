import { getDatabase } from 'firebase-admin/database';
import type { Firestore } from 'firebase-admin/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/shared/keys.js';
import { collectChannel, startFirestore, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import { notifications, setPresence, startListenerNode, startRtdb, ts, type ListenerNode, type Rtdb } from '../helpers/listeners.js';

let fs: FirestoreEmulator;
let rtdb: Rtdb;
let node: ListenerNode;
let db: Firestore;

beforeAll(async () => {
  fs = await startFirestore();
  rtdb = await startRtdb();
  node = await startListenerNode({ rtdbHost: rtdb.host });
  db = node.svc.core.firebase.firestore;
});
afterAll(async () => {
  await node?.close();
  await rtdb?.stop();
  fs?.stop();
});

const attached = (uid: string) => node.listeners.coordinator.sessions.has(uid);
const gauge = (kind: string) => node.svc.core.deps.metrics.value('listeners_watchers_attached', { kind });
const redis = () => node.svc.core.deps.redis;

describe('presence', () => {
  it('attaches online users, detaches offline ones, and expires stopped heartbeats without a document change', async () => {
    const uid = uniq('u');
    const ch = await collectChannel([`user:${uid}`]);
    await setPresence(db, uid);
    await waitFor(() => attached(uid), 10000, 'attach');
    await ch.next((m) => m.type === 'notif.sync');
    expect(await redis().get(keys.lease(uid))).toMatch(new RegExp(`^${node.svc.core.deps.config.instanceId}\\|\\d+$`));
    const health = await node.svc.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.json().listeners_count).toBeGreaterThanOrEqual(1);

    await setPresence(db, uid, { status: 'offline' });
    await waitFor(() => !attached(uid), 10000, 'detach on offline');
    await waitFor(async () => (await redis().exists(keys.lease(uid))) === 0, 5000, 'lease released');

    // Online with a 1 s TTL, then no more writes: the timer alone must detach the user.
    await setPresence(db, uid, { ttl: 1 });
    await waitFor(() => attached(uid), 10000, 're-attach');
    const before = (await db.collection('listeners_registry').doc(uid).get()).updateTime;
    await waitFor(() => !attached(uid), 10000, 'detach on expiry');
    expect((await db.collection('listeners_registry').doc(uid).get()).updateTime?.isEqual(before!)).toBe(true);
    await ch.close();
  });

  it('accepts a legacy string heartbeat', async () => {
    const uid = uniq('u');
    await db.collection('listeners_registry').doc(uid).set({ status: 'online', heartbeat_at: new Date().toISOString(), ttl_seconds: 90 });
    await waitFor(() => attached(uid), 10000, 'attach with a string heartbeat');
    await setPresence(db, uid, { status: 'offline' });
    await waitFor(() => !attached(uid), 10000, 'detach');
  });
});

describe('notifications', () => {
  it('publishes the exact notif.sync shape, filtered by authorized companies, then deltas (on the internal channel only)', async () => {
    const uid = uniq('u');
    const col = notifications(db, uid);
    await col.doc('n1').set({ job_id: 'j1', file_id: 'f1', file_name: 'a.pdf', status: 'done', collection_id: 'c1', collection_name: 'Acme', function_name: 'Router', timestamp: ts('2025-01-01T10:00:00Z'), read: false, additional_info: { k: 1 }, info_message: 'hi', message: 'm', url: 'https://x/1', extra: 'dropped' });
    await col.doc('n2').set({ collection_id: 'c1', timestamp: '2025-01-02T10:00:00.000Z', read: false });
    await col.doc('n3').set({ collection_id: 'c2', timestamp: ts('2025-01-03T10:00:00Z'), read: false });
    await col.doc('n4').set({ collection_id: 'c1', timestamp: ts('2025-01-04T10:00:00Z'), read: true });
    const ch = await collectChannel([`user:${uid}`, keys.deltasChannel(uid)]);
    await setPresence(db, uid, { companies: ['c1'] });

    const sync = await ch.next((m) => m.type === 'notif.sync');
    expect(sync).toMatchObject({ type: 'notif.sync', uid, event_id: expect.any(String), timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/) });
    const payload = sync.payload as Record<string, unknown>;
    expect(Object.keys(payload).sort()).toEqual(['count', 'notifications', 'timestamp']);
    expect(payload.count).toBe(2);
    // Items derived as the original (CONTRACT §13.4): stored message/url/info_message are not copied.
    expect(payload.notifications).toEqual([
      { doc_id: 'n2', job_id: '', file_id: '', file_name: 'Document', status: 'info', collection_id: 'c1', collection_name: '', function_name: '', timestamp: '2025-01-02T10:00:00.000Z', read: false, additional_info: '{}', info_message: '', message: 'Document - info', url: '/edit_form/' },
      { doc_id: 'n1', job_id: 'j1', file_id: 'f1', file_name: 'a.pdf', status: 'done', collection_id: 'c1', collection_name: 'Acme', function_name: 'Router', timestamp: '2025-01-01T10:00:00+00:00', read: false, additional_info: '{"k":1}', info_message: '', message: 'a.pdf - done', url: '/edit_form/j1' },
    ]);

    // add → notif.add + sync; a change in another company publishes nothing.
    await col.doc('n5').set({ collection_id: 'c1', status: 'new', timestamp: ts('2025-01-05T10:00:00Z'), read: false });
    const add = await ch.next((m) => m.type === 'notif.add');
    expect(add.payload).toMatchObject({ doc_id: 'n5', status: 'new', collection_id: 'c1', timestamp: '2025-01-05T10:00:00+00:00', read: false });
    await ch.next((m) => m.type === 'notif.sync' && (m.payload as { count: number }).count === 3);
    await col.doc('n6').set({ collection_id: 'c2', timestamp: ts('2025-01-06T10:00:00Z'), read: false });
    await col.doc('n5').update({ status: 'processed' });
    const upd = await ch.next((m) => m.type === 'notif.update');
    expect(upd.payload).toMatchObject({ doc_id: 'n5', status: 'processed' });
    await col.doc('n5').update({ read: true });
    const rem = await ch.next((m) => m.type === 'notif.remove');
    expect(rem.payload).toEqual({ doc_id: 'n5' });
    await col.doc('n1').delete();
    await ch.next((m) => m.type === 'notif.remove' && (m.payload as { doc_id: string }).doc_id === 'n1');
    expect(ch.messages.filter((m) => (m.payload as { doc_id?: string }).doc_id === 'n6')).toEqual([]);
    expect(ch.messages.filter((m) => m.type === 'notif.add').map((m) => (m.payload as { doc_id: string }).doc_id)).toEqual(['n5']);
    // Deltas travel only on the internal channel; the consumer channel carries syncs (CONTRACT §13.5).
    const onUser = ch.from.filter((f) => f.channel === `user:${uid}` && String(f.message.type).startsWith('notif.')).map((f) => f.message.type);
    const onDeltas = ch.from.filter((f) => f.channel === keys.deltasChannel(uid)).map((f) => f.message.type);
    expect(new Set(onUser)).toEqual(new Set(['notif.sync']));
    expect(new Set(onDeltas)).toEqual(new Set(['notif.add', 'notif.update', 'notif.remove']));

    // Companies change on the presence document → a fresh sync with the new filter.
    await setPresence(db, uid, { companies: ['c1', 'c2'] });
    const resync = await ch.next((m) => m.type === 'notif.sync' && JSON.stringify(m.payload).includes('"n6"'));
    expect((resync.payload as { notifications: Array<{ doc_id: string }> }).notifications.map((n) => n.doc_id)).toEqual(['n6', 'n3', 'n2']);
    await ch.close();
  });
});

describe('direct messages (Realtime Database)', () => {
  it('publishes msg.sync on attach and after changes', async () => {
    const uid = uniq('u');
    const rdb = getDatabase(node.svc.core.firebase.app);
    await rdb.ref(`clients/${uid}/direct_message_notif/d1`).set({ file_name: 'x.pdf', collection_id: 'c1', timestamp: '2025-02-01T00:00:00Z', message: 'hello' });
    const ch = await collectChannel([`user:${uid}`]);
    await setPresence(db, uid);
    const first = await ch.next((m) => m.type === 'msg.sync');
    expect(first.payload).toMatchObject({ count: 1, messages: [{ doc_id: 'd1', file_name: 'x.pdf', collection_id: 'c1', timestamp: '2025-02-01T00:00:00Z', message: 'x.pdf - info', job_id: '', url: '/edit_form/' }] });
    expect((first.payload as { messages: Array<Record<string, unknown>> }).messages[0]).not.toHaveProperty('read');
    await rdb.ref(`clients/${uid}/direct_message_notif/d2`).set({ message: 'second', timestamp: '2025-02-02T00:00:00Z' });
    const second = await ch.next((m) => m.type === 'msg.sync' && (m.payload as { count: number }).count === 2);
    expect((second.payload as { messages: Array<{ doc_id: string }> }).messages.map((m) => m.doc_id)).toEqual(['d2', 'd1']);
    await ch.close();
  });
});

describe('chat (on request)', () => {
  it('runs one watcher per thread, refuses a second registration as the original, publishes only new messages, stops on unregister', async () => {
    const uid = uniq('u');
    const space = uniq('sp');
    const thread = uniq('th');
    const rdb = getDatabase(node.svc.core.firebase.app);
    const messages = rdb.ref(`${space}/chats/${thread}/messages`);
    await messages.push({ text: 'old' });
    await setPresence(db, uid);
    await waitFor(() => attached(uid), 10000, 'attach');
    const ch = await collectChannel([`chat:${uid}:${space}:${thread}`]);
    const chatGauge0 = await gauge('chat');

    const r1 = await node.svc.rpc('REGISTRY.register_listener', { args: [uid, 'chat', space, thread] });
    expect(r1.body.data).toMatchObject({ success: true, listener_id: `chat_${uid}_${space}_${thread}`, channel_name: `chat:${uid}:${space}:${thread}`, created_at: expect.any(String), message: expect.any(String) });
    const r2 = await node.svc.rpc('REGISTRY.register_listener', { kwargs: { user_id: uid, listener_type: 'chat', space_code: space, thread_key: thread } });
    expect(r2.body).toMatchObject({ ok: true, data: { success: false, error: 'LISTENER_ALREADY_EXISTS', existing_listener: { status: 'active' } } });
    await waitFor(async () => (await gauge('chat')) === chatGauge0 + 1, 10000, 'chat watcher attached');

    const k1 = (await messages.push({ text: 'one', sender: 'a' })).key!;
    const e1 = await ch.next((m) => m.type === 'chat.message');
    expect(e1.payload).toEqual({ space_code: space, thread_key: thread, raw_messages: [{ id: k1, text: 'one', sender: 'a' }] });
    const k2 = (await messages.push({ text: 'two' })).key!;
    await ch.next((m) => JSON.stringify(m.payload).includes(k2));
    const ids = ch.messages.flatMap((m) => (m.payload as { raw_messages: Array<{ id: string }> }).raw_messages.map((x) => x.id));
    expect(ids).toEqual([k1, k2]);
    // The watcher only observes: messages are not modified.
    expect((await messages.child(k1).get()).val()).toEqual({ text: 'one', sender: 'a' });

    const u1 = await node.svc.rpc('REGISTRY.unregister_listener', { args: [uid, 'chat', space, thread] });
    expect(u1.body.data).toEqual({ success: true, listener_id: `chat_${uid}_${space}_${thread}`, message: expect.any(String) });
    await waitFor(async () => (await gauge('chat')) === chatGauge0, 10000, 'chat watcher stopped');
    await ch.close();
  });

  it('watches job_chats when mode is job_chats', async () => {
    const uid = uniq('u');
    const space = uniq('sp');
    const thread = uniq('th');
    await setPresence(db, uid);
    await waitFor(() => attached(uid), 10000, 'attach');
    const ch = await collectChannel([`chat:${uid}:${space}:${thread}`, `user:${uid}`]);
    const chatGauge0 = await gauge('chat');
    const r = await node.svc.rpc('REGISTRY.register_listener', { args: [uid, 'chat', space, thread, 'job_chats'] });
    expect(r.body.data).toMatchObject({ success: true });
    expect((await node.svc.rpc('REGISTRY.check_listener_status', { args: [uid, 'chat', space, thread] })).body.data).toMatchObject({ details: { mode: 'job_chats' }, status: 'active', active: true });
    const rdb = getDatabase(node.svc.core.firebase.app);
    // Attached = its starting point is known; messages from then on are delivered.
    await waitFor(async () => (await gauge('chat')) === chatGauge0 + 1, 10000, 'chat watcher attached');
    const key = (await rdb.ref(`${space}/job_chats/${thread}/messages`).push({ text: 'job' })).key!;
    const ev = await ch.next((m) => m.type === 'chat.message');
    expect((ev.payload as { raw_messages: Array<{ id: string }> }).raw_messages.map((x) => x.id)).toContain(key);
    await ch.close();
  });
});

describe('workflow (on request)', () => {
  it('emits only what changed, nothing on attach, with a top-level job_id', async () => {
    const uid = uniq('u');
    const job = uniq('job');
    const jobRef = db.collection('clients').doc(uid).collection('task_manager').doc(job);
    await jobRef.set({ APBookeeper_step_status: { extract: 1, book: 0 }, other: 'x' });
    await jobRef.collection('document').doc('initial_data').set({ amount: 10, vendor: 'ACME', date: ts('2025-03-01T00:00:00Z') });
    await setPresence(db, uid);
    await waitFor(() => attached(uid), 10000, 'attach');
    const ch = await collectChannel([`user:${uid}`]);
    const before = { wf: await gauge('workflow'), inv: await gauge('workflow_invoice') };
    const r = await node.svc.rpc('LISTENERS.start_workflow_listener_for_job', { args: [uid, job] });
    expect(r.body).toEqual({ ok: true, data: true, error: null });
    await waitFor(async () => (await gauge('workflow')) === before.wf + 1 && (await gauge('workflow_invoice')) === before.inv + 1, 10000, 'workflow baseline');
    expect(node.svc.core.deps.listenerCounts!().workflow_listeners_count).toBeGreaterThanOrEqual(1);

    await jobRef.update({ 'APBookeeper_step_status.book': 1, other: 'y' });
    const step = await ch.next((m) => m.type === 'workflow.step_update');
    expect(step).toMatchObject({ job_id: job, uid, payload: { step_changes: { APBookeeper_step_status: { book: 1 } } } });
    await jobRef.collection('document').doc('initial_data').update({ amount: 12 });
    const inv = await ch.next((m) => m.type === 'workflow.invoice_update');
    expect(inv).toMatchObject({ job_id: job, payload: { invoice_changes: { amount: 12 } } });
    expect(Object.keys((inv.payload as { invoice_changes: object }).invoice_changes)).toEqual(['amount']);
    // Nothing was emitted for the state that existed at attach.
    expect(ch.messages.filter((m) => String(m.type).startsWith('workflow.')).map((m) => m.type)).toEqual(['workflow.step_update', 'workflow.invoice_update']);

    expect((await node.svc.rpc('LISTENERS.stop_workflow_listener_for_job', { args: [uid, job] })).body.data).toBe(true);
    await waitFor(async () => (await gauge('workflow')) === before.wf, 10000, 'workflow watcher stopped');
    expect((await node.svc.rpc('LISTENERS.stop_workflow_listener_for_job', { args: [uid, job] })).body.data).toBe(false);
    await ch.close();
  });
});

describe('listener bookkeeping RPC (the original\'s shapes, CONTRACT §13.3)', () => {
  it('registers, checks, heartbeats, lists, expires and cleans up', async () => {
    const uid = uniq('u');
    const reg = await node.svc.rpc('REGISTRY.register_listener', { args: [uid, 'notif'] });
    expect(reg.body.data).toEqual({ success: true, listener_id: `notif_${uid}`, channel_name: `user:${uid}`, created_at: expect.stringMatching(/\+00:00$/), message: expect.any(String) });
    const doc = (await db.doc(`listeners_active/${uid}/listeners/notif_${uid}`).get()).data()!;
    expect(doc).toMatchObject({ listener_type: 'notif', space_code: null, thread_key: null, mode: null, created_at: reg.body.data.created_at, last_heartbeat: reg.body.data.created_at, status: 'active', channel_name: `user:${uid}`, ttl_seconds: 90 });
    const chk = await node.svc.rpc('REGISTRY.check_listener_status', { args: [uid, 'notif'] });
    expect(chk.body.data).toEqual({
      success: true, active: true, listener_id: `notif_${uid}`, status: 'active', created_at: doc.created_at, last_heartbeat: doc.last_heartbeat, channel_name: `user:${uid}`,
      details: { listener_type: 'notif', space_code: null, thread_key: null, mode: null },
    });
    const missing = await node.svc.rpc('REGISTRY.check_listener_status', { args: [uid, 'msg'] });
    expect(missing.body.data).toEqual({ success: true, active: false, listener_id: `msg_${uid}`, status: 'not_found' });
    expect((await db.collection('listeners_active').doc(uid).get()).exists).toBe(true);

    // Domain refusals are ok:true with success:false; a wrongly typed argument is INVALID_ARGS.
    expect((await node.svc.rpc('REGISTRY.register_listener', { args: [uid, 'bogus'] })).body).toMatchObject({ ok: true, data: { success: false, error: 'INVALID_LISTENER_TYPE' } });
    expect((await node.svc.rpc('REGISTRY.register_listener', { args: [uid, 'chat', 'only-space'] })).body).toMatchObject({ ok: true, data: { success: false, error: 'MISSING_REQUIRED_PARAM' } });
    expect((await node.svc.rpc('REGISTRY.register_listener', { args: [uid, 'notif'] })).body.data).toMatchObject({ success: false, error: 'LISTENER_ALREADY_EXISTS', existing_listener: { listener_id: `notif_${uid}` } });
    expect((await node.svc.rpc('REGISTRY.register_listener', { args: [uid, 42] })).body.error.code).toBe('INVALID_ARGS');

    await node.svc.rpc('REGISTRY.register_listener', { args: [uid, 'msg'] });
    await node.svc.rpc('REGISTRY.register_listener', { args: [uid, 'workflow', 'comp1', 'job9'] });
    expect((await node.svc.rpc('REGISTRY.update_listener_heartbeat', { args: [uid, 'msg'] })).body.data).toBe(true);
    expect((await node.svc.rpc('REGISTRY.update_listener_heartbeat', { args: [uid, 'chat', 's', 't'] })).body.data).toBe(false);

    // The msg listener's heartbeats stopped ten minutes ago.
    const old = new Date(Date.now() - 600_000).toISOString();
    await db.doc(`listeners_active/${uid}/listeners/msg_${uid}`).update({ last_heartbeat: old });
    await redis().zadd(keys.listenerHeartbeats(), Date.parse(old), JSON.stringify([uid, `msg_${uid}`]));
    expect((await node.svc.rpc('REGISTRY.check_listener_status', { args: [uid, 'msg'] })).body.data).toMatchObject({ status: 'expired', active: false });
    const listed = (await node.svc.rpc('REGISTRY.list_user_listeners', { args: [uid] })).body.data;
    expect(listed).toMatchObject({ success: true, user_id: uid, total_count: 2, active_count: 2, expired_count: 1 });
    expect(listed.listeners.map((l: { listener_id: string }) => l.listener_id).sort()).toEqual([`notif_${uid}`, `workflow_${uid}_comp1_job9`]);
    const all = (await node.svc.rpc('REGISTRY.list_user_listeners', { args: [uid, true] })).body.data;
    expect(all).toMatchObject({ total_count: 3, active_count: 2, expired_count: 1 });
    expect(all.listeners.find((l: { listener_id: string }) => l.listener_id === `msg_${uid}`)).toMatchObject({ status: 'expired', last_heartbeat: old, listener_type: 'msg' });

    expect(await node.svc.core.deps.listeners!.expireStaleListeners!()).toBeGreaterThanOrEqual(1);
    expect((await db.doc(`listeners_active/${uid}/listeners/msg_${uid}`).get()).exists).toBe(false);
    expect(await redis().hlen(keys.listenerWanted(uid))).toBe(1);

    const clean = await node.svc.rpc('REGISTRY.cleanup_user_listeners', { args: [uid, ['workflow']] });
    expect(clean.body.data).toEqual({
      success: true, cleaned_count: 1, message: expect.any(String),
      cleaned_listeners: [{ listener_id: `workflow_${uid}_comp1_job9`, listener_type: 'workflow', status: 'active', space_code: 'comp1', thread_key: 'job9' }],
    });
    expect(await redis().hlen(keys.listenerWanted(uid))).toBe(0);
    const rest = await node.svc.rpc('REGISTRY.cleanup_user_listeners', { args: [uid] });
    expect(rest.body.data).toMatchObject({ cleaned_count: 1, cleaned_listeners: [{ listener_id: `notif_${uid}` }] });
    expect((await node.svc.rpc('REGISTRY.unregister_listener', { args: [uid, 'notif'] })).body.data).toEqual({ success: true, listener_id: `notif_${uid}`, message: expect.any(String) });
  });
});
