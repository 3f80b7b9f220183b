import type { Firestore } from 'firebase-admin/firestore';
import { initializeApp, deleteApp, type App } from 'firebase-admin/app';
import { getFirestore } from 'firebase-admin/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/shared/keys.js';
import type { EventEnvelope } from '../../src/shared/events.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { startFirestore, TEST_TOKEN, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import { notifications, setPresence, ts } from '../helpers/listeners.js';
import { connected, recordSocket, type RecordingSocket } from '../helpers/realtimeNode.js';
import { crashSigns, spawnRole, type RoleProcess } from '../helpers/roles.js';

/**
 * The whole platform on a local Redis Cluster (3 primaries + 3 replicas, node timeout 2 s), every
 * role a real child process of src/main.ts: two `api` (socket.io sharded adapter, listeners with
 * leases), one `worker`, one `beat`. Then a primary is killed and its replica promoted mid-run.
 */
const ADAPTER_CHANNEL = 'socket.io#/#';

let fs: FirestoreEmulator;
let cluster: TestCluster;
let app: App;
let db: Firestore;
let api1: RoleProcess;
let api2: RoleProcess;
let worker: RoleProcess;
let beat: RoleProcess;
const sockets: RecordingSocket[] = [];

const progressOf = (s: RecordingSocket, taskId: string) =>
  s.of('task.progress_update').filter((e) => (e.payload as { task_id: string }).task_id === taskId) as Array<EventEnvelope & { payload: { status: string; progress: number; task_id: string } }>;
const isTerminal = (status: string) => ['completed', 'failed', 'cancelled'].includes(status);

async function metric(p: RoleProcess, name: string): Promise<number> {
  const text = await (await fetch(`${p.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
}

function serviceSocket(p: RoleProcess, uid: string, extra: Record<string, unknown> = {}): RecordingSocket {
  const s = recordSocket(p.url, { service_token: TEST_TOKEN, uid, ...extra });
  sockets.push(s);
  return s;
}

/** Starts a vector task on `via` and waits until `s` saw its terminal event. */
async function runTask(via: RoleProcess, s: RecordingSocket, uid: string, timeoutMs = 20000) {
  const collection = uniq('col');
  const r = await via.rpc('TASK.start_vector_computation', { kwargs: { user_id: uid, collection_name: collection, documents: [{ id: 'd1', text: 'invoice from ACME for 120 EUR' }] } });
  expect(r.body, JSON.stringify(r.body)).toMatchObject({ ok: true });
  const taskId = r.body.data.task_id as string;
  await s.next((e) => e.type === 'task.progress_update' && (e.payload as { task_id: string }).task_id === taskId && isTerminal((e.payload as { status: string }).status), timeoutMs);
  return taskId;
}

beforeAll(async () => {
  fs = await startFirestore();
  app = initializeApp({ projectId: 'demo-test' }, uniq('cluster-test'));
  db = getFirestore(app);
  cluster = await startCluster({ replicas: true });
  const env = {
    LISTENERS_REDIS_HOST: '127.0.0.1',
    LISTENERS_REDIS_PORT: String(cluster.port),
    LISTENERS_REDIS_CLUSTER: 'true',
    FIRESTORE_EMULATOR_HOST: fs.host,
    UNIFIED_REGISTRY_ENABLED: 'true',
    QUEUE_PREFIX: uniq('bullc'),
  };
  [api1, api2, worker, beat] = await Promise.all([spawnRole('api', env, 'api-1'), spawnRole('api', env, 'api-2'), spawnRole('worker', env), spawnRole('beat', env)]);
  // Four processes compiling with tsx next to the rest of the suite on two cores: generous bound.
  await Promise.all([api1, api2, worker, beat].map((p) => p.ready(100000)));
}, 150000);

afterAll(async () => {
  for (const s of sockets) s.close();
  await Promise.all([api1, api2, worker, beat].filter(Boolean).map((p) => p.kill('SIGKILL')));
  if (app) await deleteApp(app);
  await cluster?.stop();
  fs?.stop();
});

describe('the platform on a Redis Cluster', () => {
  it('RPC on one api → task on the worker → progress on a socket of the OTHER api; replay; idempotency; registry; leases', async () => {
    // Both adapters subscribed to their namespace channel on its slot's primary (sharded pub/sub).
    const owner = await cluster.primaryOf(ADAPTER_CHANNEL);
    await waitFor(async () => (await cluster.cli(owner, 'PUBSUB', 'SHARDNUMSUB', ADAPTER_CHANNEL)).split('\n')[1] === '2', 10000, 'both adapters on the sharded channel');

    const uid = uniq('cu');
    const s = serviceSocket(api2, uid);
    await connected(s.socket);
    const taskId = await runTask(api1, s, uid);
    const mine = progressOf(s, taskId);
    expect(mine.length).toBeGreaterThanOrEqual(2);
    expect(mine.filter((e) => isTerminal(e.payload.status))).toHaveLength(1);
    expect(mine.map((e) => e.payload.progress)).toEqual([...mine.map((e) => e.payload.progress)].sort((a, b) => a - b));
    expect(mine.every((e) => e.uid === uid)).toBe(true);

    // Replay from the history (a cluster key): reconnect to the other api from the first event.
    const first = mine[0]!;
    const again = serviceSocket(api1, uid, { last_event_id: first.event_id });
    await connected(again.socket);
    await waitFor(() => again.replayed.length > 0, 10000, 'replayed');
    expect(again.replayed[0]).toMatchObject({ complete: true });
    const replayedIds = again.events.filter((e) => e.type === 'task.progress_update').map((e) => e.event_id);
    expect(replayedIds).toEqual(mine.slice(1).map((e) => e.event_id));

    // Idempotency across both apis: same key, byte-identical answer.
    const key = uniq('idem');
    const tid = uniq('task');
    const a = await api1.rpc('UNIFIED_REGISTRY.register_task', { args: [tid, 'demo', uid, 'company-1'], idempotency_key: key });
    const b = await api2.rpc('UNIFIED_REGISTRY.register_task', { args: [tid, 'demo', uid, 'company-1'], idempotency_key: key });
    expect(a.body.ok, JSON.stringify(a.body)).toBe(true);
    expect(b.body).toEqual(a.body);

    // Registry written through one api, read through the other.
    const users = Array.from({ length: 6 }, () => uniq('ru'));
    for (const u of users) expect((await api1.rpc('UNIFIED_REGISTRY.register_user_session', { args: [u, uniq('s'), 'company-c'] })).body.ok).toBe(true);
    const active = (await api2.rpc('UNIFIED_REGISTRY.get_company_active_users', { args: ['company-c'] })).body.data as string[];
    expect([...active].sort()).toEqual([...users].sort());

    // Listeners with leases: an online user is run by exactly one api; its changes reach the socket.
    const lu = uniq('lu');
    const ls = serviceSocket(api2, lu);
    await connected(ls.socket);
    await setPresence(db, lu);
    const lease = await waitFor(async () => cluster.cli(owner, '-c', 'GET', keys.lease(lu)), 20000, 'lease taken');
    expect(lease).toMatch(/^api-[12]\|/);
    await waitFor(() => ls.of('notif.sync').length > 0, 15000, 'initial notif.sync');
    await notifications(db, lu).doc('n1').set({ collection_id: 'c', timestamp: ts('2025-01-01T00:00:00Z'), read: false });
    await waitFor(() => ls.events.some((e) => e.type !== 'notif.sync' && JSON.stringify(e.payload).includes('n1')) || ls.of('notif.sync').length > 1, 15000, 'the change reached the socket');
  });

  it('survives garbage on the adapter, user and control channels: logged, counted, still answering and delivering', async () => {
    const uid = uniq('gu');
    const s = serviceSocket(api2, uid);
    await connected(s.socket);
    const owner = await cluster.primaryOf(ADAPTER_CHANNEL);
    const before = (await metric(api1, 'realtime_adapter_invalid_messages_total')) + (await metric(api2, 'realtime_adapter_invalid_messages_total'));
    await cluster.cli(owner, 'SPUBLISH', ADAPTER_CHANNEL, 'not msgpack');
    await cluster.cli(owner, 'SPUBLISH', ADAPTER_CHANNEL, '{"uid":"x","nsp":"/","type":1,"data":null}');
    await cluster.cli(owner, 'SPUBLISH', ADAPTER_CHANNEL, '{"truncated":');
    await cluster.cli(cluster.port, 'PUBLISH', ADAPTER_CHANNEL, 'not msgpack');
    await cluster.cli(cluster.port, 'PUBLISH', `user:${uid}`, 'not json');
    await cluster.cli(cluster.port, 'PUBLISH', keys.listenerControl(), 'x'.repeat(10000));
    // Each of the 3 SPUBLISHed messages reaches both adapters.
    await waitFor(async () => (await metric(api1, 'realtime_adapter_invalid_messages_total')) + (await metric(api2, 'realtime_adapter_invalid_messages_total')) >= before + 6, 10000, 'garbage counted');
    await waitFor(async () => (await metric(api2, 'realtime_invalid_messages_total')) >= 1, 10000, 'user-channel garbage counted');
    await waitFor(async () => (await metric(api1, 'listeners_control_invalid_messages_total')) >= 1 && (await metric(api2, 'listeners_control_invalid_messages_total')) >= 1, 10000, 'control-channel garbage counted');

    // Same processes, afterwards: RPC answers and events still flow across nodes.
    expect((await api1.rpc('REGISTRY.unregister_session', { args: [uniq('none')] })).body).toMatchObject({ ok: true, data: false });
    await runTask(api1, s, uid);
    for (const p of [api1, api2]) {
      expect(p.child.exitCode).toBeNull();
      expect(crashSigns(p)).toEqual([]);
      const warn = p.logs().find((l) => l.msg === 'realtime: ignoring an invalid message on a socket.io adapter channel');
      expect(warn).toBeDefined();
      expect(JSON.stringify(warn)).not.toContain('not msgpack');
    }
  });

  it('a primary killed mid-run: its replica is promoted, calls resume and events flow', async () => {
    const uid = uniq('fo');
    const s = serviceSocket(api2, uid);
    await connected(s.socket);
    // Kill the primary that holds the adapter's channel: the sharded subscription must move.
    const victim = await cluster.primaryOf(ADAPTER_CHANNEL);
    const started = Date.now();
    await cluster.kill(victim);
    await cluster.waitHealthy(20000);
    const promoted = await cluster.primaryOf(ADAPTER_CHANNEL);
    expect(promoted).not.toBe(victim);
    // Calls resume on both apis.
    for (const p of [api1, api2]) {
      await waitFor(async () => (await p.rpc('UNIFIED_REGISTRY.register_user_session', { args: [uid, uniq('s'), 'company-f'] }, 3000)).body.ok === true, 20000, `${p.name} answers after failover`);
    }
    const resumedMs = Date.now() - started;
    // The adapters resubscribed on the promoted primary; a task's events reach the other api's socket.
    await waitFor(async () => (await cluster.cli(promoted, 'PUBSUB', 'SHARDNUMSUB', ADAPTER_CHANNEL)).split('\n')[1] === '2', 20000, 'adapters resubscribed on the new primary');
    const taskId = await runTask(api1, s, uid, 30000);
    expect(progressOf(s, taskId).filter((e) => isTerminal(e.payload.status))).toHaveLength(1);
    for (const p of [api1, api2, worker, beat]) {
      expect(p.child.exitCode, `${p.name} still running`).toBeNull();
      expect(crashSigns(p)).toEqual([]);
    }
    console.info(`[cluster-platform] primary ${victim} killed; both apis answered again after ${resumedMs} ms`);
  });
});
