import { QueueEvents } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { keys } from '../../src/shared/keys.js';
import { startWorkers } from '../../src/workers/index.js';
import { uniq } from '../helpers/env.js';
import type { TestService } from '../helpers/service.js';
import { useStack } from '../helpers/stack.js';

let svc: TestService;
// A worker-only process as in a split deployment: no watchers, only the bookkeeping.
useStack({ env: { QUEUE_PREFIX: uniq('q'), CONTAINER_TYPE: 'worker', LISTENERS_TTL_SECONDS: '60' }, core: { tasks: true, listeners: 'bookkeeping' } }, async (s) => {
  svc = s.svc;
  await startWorkers({ core: svc.core });
});

describe('listener_expiry on a worker without watchers', () => {
  it('expires a listener whose heartbeat is older than the TTL and keeps a fresh one', async () => {
    const uid = uniq('u');
    expect((await svc.rpc('REGISTRY.register_listener', { args: [uid, 'chat', 'space1', 'thread1'] })).body.ok).toBe(true);
    expect((await svc.rpc('REGISTRY.register_listener', { args: [uid, 'notif'] })).body.ok).toBe(true);
    // Age the chat listener's heartbeat by two TTLs, in Firestore and in the heartbeat index.
    const staleId = `chat_${uid}_space1_thread1`;
    const old = Date.now() - 120_000;
    await svc.core.firebase.firestore.doc(`listeners_active/${uid}/listeners/${staleId}`).update({ last_heartbeat: new Date(old).toISOString() });
    await svc.core.redis.client.zadd(keys.listenerHeartbeats(), old, JSON.stringify([uid, staleId]));

    const queue = svc.core.tasks!.queues.get('maintenance');
    const events = new QueueEvents('maintenance', { connection: { host: svc.core.deps.config.queueRedis.host, port: svc.core.deps.config.queueRedis.port, maxRetriesPerRequest: null }, prefix: svc.core.deps.config.queuePrefix });
    try {
      await events.waitUntilReady();
      const job = await queue.add('listener_expiry', {});
      const result = (await job.waitUntilFinished(events, 20000)) as Record<string, unknown>;
      expect(result).toMatchObject({ ran: true });
    } finally {
      await events.close();
    }
    const listed = (await svc.rpc('REGISTRY.list_user_listeners', { args: [uid], kwargs: { include_expired: true } })).body.data as { listeners: Array<{ listener_id: string }> };
    expect(listed.listeners.map((l) => l.listener_id)).toEqual([`notif_${uid}`]);
  });
});
