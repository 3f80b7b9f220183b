/**
 * Drop-in compatibility (CONTRACT §13.1-§13.7): the service as an unchanged client of the original
 * Python service sees it. The Python half (test/compat/original_client.py, Debian's python3-redis and
 * python3-requests under /usr/bin/python3) is that client: `requests` for /rpc, redis-py SUBSCRIBE,
 * and `/ws?uid=` without a token as the Reflex BusConsumer opens it. It checks exact key sets and
 * JSON types itself; these tests drive it and assert on its output. What Python cannot easily drive
 * (socket.io, the /ws deltas option, config refusals) is checked from Node here.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { getDatabase } from 'firebase-admin/database';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { ListenersHandle } from '../../src/listeners/index.js';
import { clientAddress, CidrSet } from '../../src/shared/cidr.js';
import { createPublisher, makeEvent } from '../../src/shared/events.js';
import { channelNames, keys } from '../../src/shared/keys.js';
import { collectChannel, redisSettings, startFirestore, TEST_TOKEN, testRedis, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import { FAST, notifications, startRtdb, type Rtdb } from '../helpers/listeners.js';
import { connected, recordSocket, recordWs, startGatewayNode, type GatewayNode } from '../helpers/realtimeNode.js';
import type { RedisHandle } from '../../src/shared/redis.js';
import { startTestService } from '../helpers/service.js';
import { WantedStore } from '../../src/listeners/wanted.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = 'test/compat/original_client.py';

let fs: FirestoreEmulator;
let rtdb: Rtdb;
let redis: RedisHandle;
/** Bridge on for 127.0.0.1 (the Python client's address), listeners running: the whole service. */
let node: GatewayNode;
let listeners: ListenersHandle;
/** Bridge for 10.0.0.0/8 behind a trusted proxy (127.0.0.1): for the X-Forwarded-For path. */
let proxied: GatewayNode;
const children: ChildProcessWithoutNullStreams[] = [];

beforeAll(async () => {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: install Debian's python3-redis and python3-requests (.ci/run does)`);
  fs = await startFirestore();
  rtdb = await startRtdb();
  redis = await testRedis('compat');
  const presence = { graceMs: 300, heartbeatMs: 200, connectionTtlMs: 5000 };
  node = await startGatewayNode({ env: { FIREBASE_DATABASE_EMULATOR_HOST: rtdb.host, WS_TRUSTED_NETWORKS: '127.0.0.1/32,::1/128' }, gateway: { presence }, listeners: FAST });
  listeners = await node.core.listeners!.start();
  proxied = await startGatewayNode({ env: { FIREBASE_DATABASE_EMULATOR_HOST: rtdb.host, WS_TRUSTED_NETWORKS: '10.0.0.0/8', TRUSTED_PROXIES: '127.0.0.1/32' }, gateway: { presence } });
});

afterAll(async () => {
  for (const c of children) c.kill('SIGTERM');
  await listeners?.close();
  await Promise.all([node?.close(), proxied?.close()]);
  await redis?.close();
  await rtdb?.stop();
  fs?.stop();
});

type Line = Record<string, any>;

/** Runs the Python client; `lines` collects its JSON output, `exit` resolves with the exit code. */
function python(scenario: string, env: Record<string, string>, url = node.url) {
  const child = spawn(PYTHON, [SCRIPT, scenario], {
    env: { PATH: '/usr/bin:/bin', SERVICE_URL: url, SERVICE_TOKEN: TEST_TOKEN, REDIS_HOST: redisSettings().host, REDIS_PORT: String(redisSettings().port), ...env },
  });
  children.push(child);
  const lines: Line[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l) as Line);
    } catch {
      lines.push({ unparsed: l });
    }
  });
  const exit = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  return {
    child,
    lines,
    exit,
    stderr: () => stderr,
    next: (pred: (l: Line) => boolean, what: string, timeoutMs = 20000) => waitFor(() => lines.find(pred), timeoutMs, `python: ${what}`),
  };
}

const ITEM_DEFAULTS = { file_name: 'Document', status: 'info', message: 'Document - info', url: '/edit_form/', info_message: '' };

describe('RPC as the Reflex backend calls it (CONTRACT §13.1-§13.3, §13.7)', () => {
  it('envelope, register_user, listener bookkeeping, CHROMA_VECTOR registry and foreign namespaces', async () => {
    const p = python('rpc', { UID: uniq('py'), SESSION: uniq('sess') });
    const code = await p.exit;
    expect(p.lines.find((l) => l.mismatch), p.stderr()).toBeUndefined();
    expect(code, p.stderr()).toBe(0);
    expect(p.lines.at(-1)).toEqual({ ok: true });
  });

  it('reply_to publishes the response plus trace_id (§13.1; the reply_to allow-list and trace_id come from another branch: fails here until merged)', async () => {
    const p = python('reply_to', { UID: uniq('py') });
    const code = await p.exit;
    expect(p.lines.find((l) => l.mismatch)).toBeUndefined();
    expect(code, p.stderr()).toBe(0);
  });
});

describe('an unchanged original-style consumer: /ws?uid= from a trusted network + Redis SUBSCRIBE, no token (§13.4-§13.6)', () => {
  it('receives notif.sync, msg.sync and chat.message for a whole session, items as the original, and no deltas', async () => {
    const uid = uniq('py');
    const space = uniq('sp');
    const thread = uniq('th');
    const db = node.core.firebase.firestore;
    const rdb = getDatabase(node.core.firebase.app);
    const chatRefs = async () => (await node.core.deps.redis.zrange(keys.listenerWantedHeld(uid), '0', '-1')).filter((m) => m.includes(JSON.stringify(JSON.stringify(['chat', 'chats', space, thread])).slice(1, -1))).length;
    const bridged0 = await node.core.deps.metrics.value('realtime_ws_bridged_total');

    const p = python('consumer', { UID: uid, SPACE: space, THREAD: thread });
    await p.next((l) => l.ready || l.refused !== undefined, 'ws open');
    expect(p.lines.find((l) => l.refused !== undefined)).toBeUndefined();
    expect(await node.core.deps.metrics.value('realtime_ws_bridged_total')).toBe(bridged0 + 1);

    // The open /ws makes the user present: the listeners attach them (notif.sync on Redis and /ws).
    await p.next((l) => l.via === 'redis' && l.event.type === 'notif.sync', 'notif.sync on Redis');
    await p.next((l) => l.via === 'ws' && l.event.type === 'notif.sync', 'notif.sync on /ws');

    // A socket.io client of the same user, to compare the items and to see the deltas.
    const sock = recordSocket(node.url, { service_token: TEST_TOKEN, uid });
    await connected(sock.socket);
    await sock.next((e) => e.type === 'notif.sync');
    // The chat parameters started the thread's watcher.
    await waitFor(async () => (await chatRefs()) === 1, 10000, 'chat watcher requested by the /ws');

    // A notification written with only {read:false}.
    const docId = uniq('n');
    await notifications(db, uid).doc(docId).set({ read: false });
    const has = (e: Line) => e?.type === 'notif.sync' && (e.payload.notifications as Line[]).some((n) => n.doc_id === docId);
    const viaRedis = (await p.next((l) => l.via === 'redis' && has(l.event), 'notif.sync with the item on Redis')).event.payload.notifications.find((n: Line) => n.doc_id === docId);
    const viaWs = (await p.next((l) => l.via === 'ws' && has(l.event), 'notif.sync with the item on /ws')).event.payload.notifications.find((n: Line) => n.doc_id === docId);
    const viaSocket = ((await sock.next((e) => has(e as unknown as Line))).payload.notifications as Line[]).find((n) => n.doc_id === docId);
    expect(viaRedis).toMatchObject({ ...ITEM_DEFAULTS, doc_id: docId, read: false });
    expect(viaWs).toEqual(viaRedis);
    expect(viaSocket).toEqual(viaRedis);
    // socket.io also gets the delta (same item).
    const add = await sock.next((e) => e.type === 'notif.add' && (e.payload as Line).doc_id === docId);
    expect(add.payload).toEqual(viaRedis);

    // A direct message and a chat message.
    await rdb.ref(`clients/${uid}/direct_message_notif/${uniq('m')}`).set({ file_name: 'dm.pdf', timestamp: '2025-02-01T00:00:00Z' });
    const dm = (l: Line) => l.event?.type === 'msg.sync' && (l.event.payload.messages as Line[]).some((m) => m.file_name === 'dm.pdf');
    const dmRedis = await p.next((l) => l.via === 'redis' && dm(l), 'msg.sync on Redis');
    await p.next((l) => l.via === 'ws' && dm(l), 'msg.sync on /ws');
    expect(dmRedis.event.payload.messages[0]).toMatchObject({ message: 'dm.pdf - info', url: '/edit_form/', status: 'info', timestamp: '2025-02-01T00:00:00Z' });
    const key = (await rdb.ref(`${space}/chats/${thread}/messages`).push({ content: 'hello', message_type: 'MESSAGE' })).key!;
    const chat = await p.next((l) => l.via === 'redis' && l.event.type === 'chat.message', 'chat.message on the chat channel');
    expect(chat.channel).toBe(`chat:${uid}:${space}:${thread}`);
    expect(chat.event.payload).toEqual({ space_code: space, thread_key: thread, raw_messages: [{ id: key, content: 'hello', message_type: 'MESSAGE' }] });
    await p.next((l) => l.via === 'ws' && l.event.type === 'chat.message', 'chat.message on /ws');

    // The update and removal deltas reach socket.io, never the original-style consumer.
    await notifications(db, uid).doc(docId).update({ status: 'done' });
    await sock.next((e) => e.type === 'notif.update');
    await notifications(db, uid).doc(docId).update({ read: true });
    await sock.next((e) => e.type === 'notif.remove');
    await p.next((l) => l.via === 'redis' && l.event.type === 'notif.sync' && !has(l.event), 'notif.sync after the removal');
    await p.next((l) => l.via === 'ws' && l.event.type === 'notif.sync' && !has(l.event), 'notif.sync after the removal on /ws');
    const events = p.lines.filter((l) => l.event);
    expect(events.flatMap((l) => l.errors)).toEqual([]);
    expect(events.filter((l) => ['notif.add', 'notif.update', 'notif.remove'].includes(l.event.type))).toEqual([]);

    // Closing the /ws stops the chat watcher request.
    p.child.stdin.end();
    expect(await p.exit, p.stderr()).toBe(0);
    await waitFor(async () => (await chatRefs()) === 0, 10000, 'chat watcher released when the /ws closed');
    sock.close();
  });

  it('from an untrusted address a bare ?uid= is refused with 401; X-Forwarded-For counts only from a trusted proxy', async () => {
    const probe = async (url: string, xff?: string) => {
      const p = python('ws_probe', { UID: uniq('py'), ...(xff ? { XFF: xff } : {}) }, url);
      expect(await p.exit, p.stderr()).toBe(0);
      return (p.lines.find((l) => l.status !== undefined) as { status: number }).status;
    };
    // The peer (127.0.0.1) is a trusted proxy here; the bridge trusts 10.0.0.0/8.
    expect(await probe(proxied.url)).toBe(401);
    expect(await probe(proxied.url, '10.1.2.3')).toBe(101);
    expect(await probe(proxied.url, '203.0.113.9, 10.1.2.3')).toBe(101); // left part is the client's own claim
    expect(await probe(proxied.url, '10.1.2.3, 203.0.113.9')).toBe(401); // right-most untrusted address decides
    expect(await probe(proxied.url, 'garbage')).toBe(401);
    // On the other node 127.0.0.1 is trusted but no proxy is: a forged header changes nothing.
    expect(await probe(node.url, '203.0.113.9')).toBe(101);
  });
});

describe('CHROMA_VECTOR in unified mode (§13.7)', () => {
  it('mirrors registrations into services.chroma, merging collections instead of replacing them', async () => {
    const svc = await startTestService({ env: { UNIFIED_REGISTRY_ENABLED: 'true' } });
    try {
      const uid = uniq('u');
      expect((await svc.rpc('UNIFIED_REGISTRY.register_user_session', { args: [uid, uniq('s'), 'c1'] })).body.ok).toBe(true);
      for (const c of ['coll1', 'coll2']) expect((await svc.rpc('CHROMA_VECTOR.register_collection_user', { args: [uid, c, 's1'] })).body.data).toMatchObject({ collection_name: c });
      await Promise.all(['coll3', 'coll4', 'coll3'].map((c) => svc.rpc('CHROMA_VECTOR.heartbeat_collection', { args: [uid, c] })));
      const chroma = async () => (await svc.rpc('UNIFIED_REGISTRY.get_user_registry', { args: [uid] })).body.data.services.chroma;
      const before = await chroma();
      expect([...before.collections].sort()).toEqual(['coll1', 'coll2', 'coll3', 'coll4']);
      expect(before.last_heartbeat).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect((await svc.rpc('CHROMA_VECTOR.unregister_collection_user', { args: [uid, 'coll1'] })).body.data).toEqual({ user_id: uid, collection_name: 'coll1', unregistered: true });
      expect([...(await chroma()).collections].sort()).toEqual(['coll2', 'coll3', 'coll4']);
      // The Reflex side sends deterministic idempotency keys: a repeated heartbeat still renews.
      await redis.client.expire(keys.chromaCollection(uid, 'coll2'), 5);
      for (let i = 0; i < 2; i++) {
        const hb = await svc.rpc('CHROMA_VECTOR.heartbeat_collection', { args: [uid, 'coll2'], idempotency_key: 'sha256-of-method-and-args' });
        expect(hb.headers['idempotent-replay']).toBeUndefined();
        expect(hb.body.data.heartbeat_updated).toBe(true);
        expect(await redis.client.ttl(keys.chromaCollection(uid, 'coll2'))).toBeGreaterThan(5);
        await redis.client.expire(keys.chromaCollection(uid, 'coll2'), 5);
      }
      // The registration hash itself is the original's, with its 90 s TTL.
      await svc.rpc('CHROMA_VECTOR.heartbeat_collection', { args: [uid, 'coll2'] });
      const ttl = await redis.client.ttl(keys.chromaCollection(uid, 'coll2'));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(90);
    } finally {
      await svc.close();
    }
  });
});

describe('Node-side checks of §13.5-§13.6', () => {
  it('/ws?deltas=1 receives the deltas; without it only the rest', async () => {
    const uid = uniq('d');
    const plain = recordWs(node.url, { service_token: TEST_TOKEN, uid });
    const withDeltas = recordWs(node.url, { service_token: TEST_TOKEN, uid, deltas: '1' });
    await Promise.all([plain.opened, withDeltas.opened]);
    await waitFor(() => plain.frames.some((f) => f.type === 'notif.sync') && withDeltas.frames.some((f) => f.type === 'notif.sync'), 10000, 'connect syncs');
    const delta = makeEvent('notif.add', uid, { doc_id: 'x1' });
    const fence = makeEvent('msg.sync', uid, { messages: [], count: 0, timestamp: new Date().toISOString() });
    await node.core.deps.publisher.publishUser(delta);
    await node.core.deps.publisher.publishUser(fence);
    await waitFor(() => withDeltas.frames.some((f) => f.event_id === fence.event_id) && plain.frames.some((f) => f.event_id === fence.event_id), 10000, 'fence');
    expect(withDeltas.frames.some((f) => f.event_id === delta.event_id)).toBe(true);
    expect(plain.frames.some((f) => f.event_id === delta.event_id)).toBe(false);
    plain.close();
    withDeltas.close();
  });

  it('/ws chat parameters: mode picks the subtree (auto = chats), one request per socket; hostile values are refused with 400', async () => {
    const uid = uniq('c');
    const held = async () => (await redis.client.zrange(keys.listenerWantedHeld(uid), '0', '-1')).map((m) => JSON.parse((JSON.parse(m) as [string, string])[1]) as string[]);
    const refs = async (mode: string) => String((await held()).filter((s) => s[1] === mode).length);
    const a = recordWs(node.url, { service_token: TEST_TOKEN, uid, space_code: 'sp', thread_key: 'th', mode: 'job_chats' });
    const b = recordWs(node.url, { service_token: TEST_TOKEN, uid, space_code: 'sp', thread_key: 'th', mode: 'auto' });
    const c = recordWs(node.url, { service_token: TEST_TOKEN, uid, space_code: 'sp', thread_key: 'th' });
    await Promise.all([a.opened, b.opened, c.opened]);
    await waitFor(async () => (await refs('job_chats')) === '1' && (await refs('chats')) === '2', 10000, 'one request per socket');
    b.close();
    await waitFor(async () => (await refs('chats')) === '1', 10000, 'released by the closed socket');
    a.close();
    c.close();
    await waitFor(async () => (await redis.client.exists(keys.listenerWantedHeld(uid))) === 0, 10000, 'all released');
    const hostile: Array<Record<string, string>> = [{ space_code: 'sp' }, { space_code: 'a:b', thread_key: 't' }, { space_code: 's', thread_key: 't', mode: 'other' }, { space_code: 's', thread_key: 'x'.repeat(200) }];
    for (const q of hostile) {
      const w = recordWs(node.url, { service_token: TEST_TOKEN, uid, ...q });
      await expect(w.opened).rejects.toMatchObject({ status: 400 });
    }
    // A bridged connection must still name a valid uid.
    await expect(recordWs(node.url, { uid: 'a b/c' }).opened).rejects.toMatchObject({ status: 400 });
  });

  it('held watcher requests: listed while renewed, merged with registrations, lapse when their node stops renewing', async () => {
    const uid = uniq('h');
    const store = new WantedStore(redis.client);
    const spec = { kind: 'chat', space: 'sp', thread: 'th', mode: 'chats' } as const;
    const now = Date.now();
    await store.hold(uid, 'conn-1', spec, 60_000, now);
    await store.hold(uid, 'conn-2', spec, 1_000, now);
    await store.add(uid, spec);
    expect(await store.list(uid, now)).toEqual([spec]);
    await store.remove(uid, spec);
    await store.release(uid, 'conn-1', spec);
    expect(await store.list(uid, now)).toEqual([spec]); // conn-2 still holds it
    expect(await store.list(uid, now + 2_000)).toEqual([]); // conn-2's node died: lapsed
  });

  it('LISTENERS_REDIS_DELTAS=true puts deltas on the user channel (and only there)', async () => {
    const uid = uniq('d');
    const ch = await collectChannel([`user:${uid}`, keys.deltasChannel(uid)]);
    const pub = (redisDeltas: boolean) =>
      createPublisher({ redis: redis.client, channels: channelNames('user:', 'chat:'), history: { maxLen: 0, maxAgeSeconds: 60 }, historyKey: keys.eventHistory, leaseKey: keys.lease, stateKey: keys.notifState, redisDeltas });
    const a = makeEvent('notif.add', uid, { doc_id: 'a' });
    const b = makeEvent('notif.add', uid, { doc_id: 'b' });
    await pub(false).publishUser(a);
    await pub(true).publishUser(b);
    await waitFor(() => ch.from.length >= 2, 10000, 'both published');
    expect(ch.from.map((f) => [f.channel, f.message.event_id])).toEqual([
      [keys.deltasChannel(uid), a.event_id],
      [`user:${uid}`, b.event_id],
    ]);
    await ch.close();
  });

  it('an open /ws keeps the user online (presence heartbeats continue while it is open)', async () => {
    const uid = uniq('pres');
    const doc = () => node.core.firebase.firestore.collection('listeners_registry').doc(uid).get();
    const w = recordWs(node.url, { service_token: TEST_TOKEN, uid });
    await w.opened;
    await waitFor(async () => (await doc()).get('status') === 'online', 10000, 'online');
    const hb1 = (await doc()).get('heartbeat_at') as { toMillis(): number };
    await waitFor(async () => ((await doc()).get('heartbeat_at') as { toMillis(): number }).toMillis() > hb1.toMillis(), 10000, 'heartbeat refreshed');
    w.close();
    await waitFor(async () => (await doc()).get('status') === 'offline', 10000, 'offline after the last connection + grace');
  });

  it('client address: right-most untrusted X-Forwarded-For hop, only from a trusted proxy; IPv6 and mapped IPv4', () => {
    const proxies = CidrSet.parse(['10.0.0.0/8', 'fd00::/8']);
    expect(clientAddress('::ffff:10.0.0.5', '198.51.100.7, 203.0.113.1, 10.0.0.9', proxies)).toBe('203.0.113.1');
    expect(clientAddress('192.0.2.1', '10.9.9.9', proxies)).toBe('192.0.2.1');
    expect(clientAddress('fd00::1', '2001:db8::5', proxies)).toBe('2001:db8::5');
    expect(clientAddress('10.0.0.5', undefined, proxies)).toBe('10.0.0.5');
    expect(CidrSet.parse(['2001:db8::/32']).has('2001:db8::1')).toBe(true);
    expect(CidrSet.parse(['192.168.0.0/16']).has('::ffff:192.168.3.4')).toBe(true);
  });

  it('production refuses a bridge range wider than a /8 (IPv4 and IPv6) and says why; bad CIDRs are config errors', async () => {
    const base = { NODE_ENV: 'production', LISTENERS_SERVICE_TOKEN: TEST_TOKEN };
    const wide = await loadConfig({ ...base, WS_TRUSTED_NETWORKS: '0.0.0.0/0,::/4', TRUSTED_PROXIES: '10.0.0.0/8' });
    expect(wide.ok).toBe(false);
    const problems = (wide as { problems: string[] }).problems.join('\n');
    expect(problems).toMatch(/WS_TRUSTED_NETWORKS: "0\.0\.0\.0\/0" is wider than a \/8.*IPv4/);
    expect(problems).toMatch(/WS_TRUSTED_NETWORKS: "::\/4" is wider than a \/8.*IPv6/);
    expect((await loadConfig({ ...base, WS_TRUSTED_NETWORKS: '10.0.0.0/8,fd00::/8' })).ok).toBe(true);
    expect((await loadConfig({ WS_TRUSTED_NETWORKS: '0.0.0.0/0' })).ok).toBe(true); // development: allowed
    const bad = await loadConfig({ WS_TRUSTED_NETWORKS: '10.0.0.0/33,nope' });
    expect((bad as { problems: string[] }).problems.join('\n')).toMatch(/prefix length must be 0\.\.32[\s\S]*"nope" is not an IP address/);
  });
});
