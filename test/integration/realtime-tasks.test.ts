import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFirestore, uniq, type FirestoreEmulator } from '../helpers/env.js';
import { idToken, startAuthEmulator, type AuthEmulator } from '../helpers/realtimeAuth.js';
import { connected, recordSocket, startGatewayNode, type GatewayNode } from '../helpers/realtimeNode.js';

/**
 * A task started over RPC on one node (api) and run by real BullMQ workers on another (worker)
 * shows its progress events on a socket connected to a third path: the gateway node.
 */
let fs: FirestoreEmulator;
let authEmu: AuthEmulator;
let api: GatewayNode;
let worker: GatewayNode;

beforeAll(async () => {
  fs = await startFirestore();
  authEmu = await startAuthEmulator();
  const env = { QUEUE_PREFIX: uniq('bullrt'), WORKER_QUEUES: 'computation' };
  api = await startGatewayNode({ env, tasks: true, gateway: { presence: false } });
  worker = await startGatewayNode({ env, workers: true, gateway: { presence: false } });
});

afterAll(async () => {
  await api?.close();
  await worker?.close();
  await authEmu?.stop();
  fs?.stop();
});

describe('task progress on the socket', () => {
  it('delivers every state change of a task started over RPC, progress never decreasing, one terminal event', async () => {
    const uid = uniq('tasker');
    const s = recordSocket(api.url, { token: idToken(uid) });
    await connected(s.socket);
    const collection = uniq('col');
    const r = await api.rpc('TASK.start_vector_computation', {
      kwargs: { user_id: uid, collection_name: collection, documents: [{ id: 'd1', text: 'invoice from ACME for 120 EUR' }, { id: 'd2', text: 'receipt paid by card' }] },
    });
    expect(r.body, JSON.stringify(r.body)).toMatchObject({ ok: true });
    const taskId = r.body.data.task_id as string;
    expect(taskId).toBe(`embeddings_${collection}`);
    const done = await s.next((e) => e.type === 'task.progress_update' && (e.payload as { task_id: string }).task_id === taskId && (e.payload as { status: string }).status === 'completed', 20000);
    expect((done.payload as { progress: number }).progress).toBe(100);
    const mine = s.of('task.progress_update').filter((e) => (e.payload as { task_id: string }).task_id === taskId);
    expect(mine.every((e) => e.uid === uid)).toBe(true);
    const progress = mine.map((e) => (e.payload as { progress: number }).progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(mine.filter((e) => ['completed', 'failed', 'cancelled'].includes((e.payload as { status: string }).status))).toHaveLength(1);
    expect(mine.length).toBeGreaterThanOrEqual(2);
    s.close();
  });
});
