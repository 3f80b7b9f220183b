import { afterAll, beforeAll, describe, it } from 'vitest';
import { createRedis, waitReady } from '../../src/shared/redis.js';
import { silentLogger } from '../../src/shared/logger.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { redisEnv, startFirestore, TEST_TOKEN, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import { connected, recordSocket, startGatewayNode, type GatewayNode, type RecordingSocket } from '../helpers/realtimeNode.js';

/**
 * The socket.io Redis adapter (classic on one Redis, sharded on a 3-primary cluster) between two
 * in-process gateway nodes: garbage on its channels is logged and counted and never reaches it, and
 * real adapter traffic (a cross-node fetchSockets) still works afterwards, in the same test.
 */
let fs: FirestoreEmulator;
let cluster: TestCluster;
const cleanup: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  fs = await startFirestore();
  cluster = await startCluster();
}, 60000);
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
  await cluster?.stop();
  fs?.stop();
});

async function twoNodes(env: Record<string, string>): Promise<[GatewayNode, GatewayNode]> {
  const a = await startGatewayNode({ env, gateway: { presence: false } });
  cleanup.push(() => a.close());
  const b = await startGatewayNode({ env, gateway: { presence: false } });
  cleanup.push(() => b.close());
  return [a, b];
}

function socketOn(n: GatewayNode, uid: string): RecordingSocket {
  const s = recordSocket(n.url, { service_token: TEST_TOKEN, uid });
  cleanup.push(() => s.close());
  return s;
}

/** Hostile payloads: not MessagePack, MessagePack of the wrong shape, JSON that decodes but is no adapter message, an RPC reply. */
const GARBAGE = ['not msgpack', '{"uid":"x","nsp":"/","type":1,"data":null}', '{"truncated":', '{"ok":true,"data":{"x":1},"request_id":"r"}', '\x93\xa1x\xc0\xc0', ''];

async function exercise(nodes: [GatewayNode, GatewayNode], publish: (channel: string, payload: string) => Promise<unknown>, channels: string[]) {
  const [a, b] = nodes;
  const uid = uniq('ad');
  const onA = socketOn(a, uid);
  const onB = socketOn(b, uid);
  await Promise.all([connected(onA.socket), connected(onB.socket)]);
  // Real adapter traffic works before...
  await waitFor(async () => (await a.gateway.io.in(`user:${uid}`).fetchSockets()).length === 2, 20000, 'fetchSockets across nodes (before)');
  const before = (await a.core.deps.metrics.value('realtime_adapter_invalid_messages_total')) + (await b.core.deps.metrics.value('realtime_adapter_invalid_messages_total'));
  for (const channel of channels) for (const g of GARBAGE) await publish(channel, g);
  await waitFor(
    async () => (await a.core.deps.metrics.value('realtime_adapter_invalid_messages_total')) + (await b.core.deps.metrics.value('realtime_adapter_invalid_messages_total')) >= before + 2 * GARBAGE.length,
    10000,
    'garbage counted by both adapters',
  );
  // ...and after, on the same nodes: cross-node requests and user events still flow.
  await waitFor(async () => (await b.gateway.io.in(`user:${uid}`).fetchSockets()).length === 2, 20000, 'fetchSockets across nodes (after)');
  const e = { type: 'notif.add', uid, timestamp: new Date().toISOString(), event_id: uniq('e'), payload: { doc_id: 'after-garbage' } } as const;
  await a.core.deps.publisher.publishUser(e);
  for (const s of [onA, onB]) await s.next((x) => x.event_id === e.event_id);
}

describe('socket.io adapter survives garbage on its channels', () => {
  it('classic adapter on one Redis (PUBLISH on socket.io#/#, its request and response channels)', async () => {
    const nodes = await twoNodes({ INSTANCE_ID: uniq('gw') });
    const r = createRedis({ settings: { host: redisEnv().LISTENERS_REDIS_HOST!, port: Number(redisEnv().LISTENERS_REDIS_PORT), password: undefined, tls: false, tlsVerify: true, db: 0, cluster: false }, name: 'garbage', logger: silentLogger() });
    cleanup.push(() => r.close());
    await waitReady(r.client);
    await exercise(nodes, (c, p) => r.client.publish(c, p), ['socket.io#/#', 'socket.io-request#/#']);
  });

  it('sharded adapter on a 3-primary cluster (SPUBLISH on socket.io#/#)', async () => {
    const env = { LISTENERS_REDIS_HOST: '127.0.0.1', LISTENERS_REDIS_PORT: String(cluster.port), LISTENERS_REDIS_CLUSTER: 'true' };
    const nodes = await twoNodes(env);
    for (const n of nodes) await waitReady(n.core.redis.client, 20000);
    const r = createRedis({ settings: { host: '127.0.0.1', port: cluster.port, password: undefined, tls: false, tlsVerify: true, db: 0, cluster: true }, name: 'garbage', logger: silentLogger() });
    cleanup.push(() => r.close());
    await waitReady(r.client, 20000);
    const client = r.client;
    await exercise(nodes, (c, p) => client.spublish(c, p), ['socket.io#/#']);
  });
});
