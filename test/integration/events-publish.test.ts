import { execFileSync } from 'node:child_process';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseManager } from '../../src/listeners/lease.js';
import { createPublisher, endingMark, FencedError, makeEvent, markEnding, type EventPublisher } from '../../src/shared/events.js';
import { channelNames, keys } from '../../src/shared/keys.js';
import { silentLogger } from '../../src/shared/logger.js';
import { createRedis, waitReady, type RedisClient, type RedisHandle } from '../../src/shared/redis.js';
import { collectChannel, redisSettings, testRedis, uniq, waitFor } from '../helpers/env.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';

/**
 * The publish script (src/shared/events.ts): one round trip per event, the lease's fencing value
 * checked by Redis at the write, and every key of one user in one cluster slot.
 */
const HISTORY = { maxLen: 50, maxAgeSeconds: 600 };
const publisherOn = (redis: RedisClient) =>
  createPublisher({ redis, channels: channelNames('user:', 'chat:'), history: HISTORY, historyKey: keys.eventHistory, leaseKey: keys.lease, stateKey: keys.notifState, redisDeltas: true }); // these tests watch the script on the user channel
const leasesOn = (redis: RedisClient, instanceId: string) =>
  new LeaseManager({ redis, instanceId, ttlMs: 60_000, logger: silentLogger(), onLost: () => undefined, stateTtlSeconds: 600, instanceGroup: uniq('g') });

let r: RedisHandle;
beforeAll(async () => {
  r = await testRedis('events-publish');
});
afterAll(async () => {
  await r?.close();
});

describe('publish script on one Redis', () => {
  it('refuses a deposed lease owner’s publish in Redis itself: nothing appended, nothing published, state untouched', async () => {
    const uid = uniq('fu');
    const ch = await collectChannel([`user:${uid}`]);
    const pub = publisherOn(r.client);
    const a = leasesOn(r.client, 'inst-a');
    expect(await a.tryAcquire([uid])).toEqual([uid]);
    const asA = pub.fenced(a.fence(uid)!);
    const sync = makeEvent('notif.sync', uid, { notifications: [{ doc_id: 'd1', read: false }], count: 1, timestamp: new Date().toISOString() });
    await asA.publishUser(sync);
    expect(await r.client.llen(keys.eventHistory(uid))).toBe(1);
    const stateBefore = await r.client.hgetall(keys.notifState(uid));
    expect(Object.keys(stateBefore).sort()).toEqual(['', 'd1']);

    // A pauses past its lease (simulated: the key is gone), B takes the user over.
    await r.client.del(keys.lease(uid));
    const b = leasesOn(r.client, 'inst-b');
    expect(await b.tryAcquire([uid])).toEqual([uid]);
    expect(a.owns(uid)).toBe(true); // A's local view still says it owns the user: only Redis knows better

    const late = makeEvent('notif.add', uid, { doc_id: 'd2', read: false });
    await expect(asA.publishUser(late)).rejects.toBeInstanceOf(FencedError);
    await expect(asA.publishChat(makeEvent('chat.message', uid, { text: 'x' }), 'sp', 'th')).rejects.toBeInstanceOf(FencedError);
    expect(await r.client.llen(keys.eventHistory(uid))).toBe(1);
    expect(await r.client.hgetall(keys.notifState(uid))).toEqual(stateBefore);

    // B publishes fine; once B's event arrived, A's refused one would have arrived before it.
    const fromB = makeEvent('notif.add', uid, { doc_id: 'd3', read: false });
    await pub.fenced(b.fence(uid)!).publishUser(fromB);
    await ch.next((m) => m.event_id === fromB.event_id);
    expect(ch.messages.map((m) => m.event_id)).toEqual([sync.event_id, fromB.event_id]);
    expect(Object.keys(await r.client.hgetall(keys.notifState(uid))).sort()).toEqual(['', 'd1', 'd3']);
    await ch.close();
  });

  it('costs one command per event from the client (MONITOR: everything else runs inside the script)', async () => {
    const N = 50;
    const h = createRedis({ settings: redisSettings(), name: 'events-publish-counted', logger: silentLogger() });
    await waitReady(h.client);
    const uid = uniq('cu');
    const monitor = await (r.client as Redis).monitor();
    const mine = uniq('mark');
    // Other test files share this Redis: only this client's commands and this user's channel count.
    let source: string | undefined;
    const fromClient: string[] = [];
    let scriptPublishes = 0;
    let seenEnd = false;
    monitor.on('monitor', (_t: string, args: string[], from: string) => {
      const cmd = args[0]?.toLowerCase();
      if (cmd === 'echo' && args[1] === `${mine}:start`) return void (source = from);
      if (source === undefined || seenEnd) return;
      if (from === source) {
        if (cmd === 'echo' && args[1] === `${mine}:end`) seenEnd = true;
        else fromClient.push(cmd ?? '');
      } else if (from === 'lua' && cmd === 'publish' && args[1] === `user:${uid}`) scriptPublishes += 1;
    });
    const pub = publisherOn(h.client);
    const a = leasesOn(h.client, 'inst-counted');
    await a.tryAcquire([uid]);
    const fenced = pub.fenced(a.fence(uid)!);
    await pub.publishUser(makeEvent('task.progress_update', uid, { warm: true })); // loads the script (EVALSHA → NOSCRIPT → EVAL once)
    await h.client.echo(`${mine}:start`);
    for (let i = 0; i < N; i++) {
      await pub.publishUser(makeEvent('task.progress_update', uid, { task_id: 't', progress: i }));
      await fenced.publishUser(makeEvent('notif.add', uid, { doc_id: `d${i}` }));
    }
    await h.client.echo(`${mine}:end`);
    await waitFor(() => seenEnd, 10000, 'MONITOR saw the end marker');
    monitor.disconnect();
    await h.close();
    expect(fromClient).toEqual(Array.from({ length: 2 * N }, () => 'evalsha'));
    // Inside: RPUSH, LTRIM, EXPIRE, PUBLISH for both kinds; GET (fence) + state update for the fenced one.
    expect(scriptPublishes).toBe(2 * N);
  });

  it('drops a progress event once its task is ending (the mark checked by the script), and never records one', async () => {
    const uid = uniq('eu');
    const ch = await collectChannel([`user:${uid}`]);
    const pub = publisherOn(r.client);
    const progress = (p: number) => makeEvent('task.progress_update', uid, { task_id: 't1', status: 'processing', progress: p });
    const first = progress(10);
    await pub.publishUser(first, { unlessOnce: endingMark('t1') });
    // A guarded publish records nothing: the mark is still absent, so a second one goes out too.
    const second = progress(20);
    await pub.publishUser(second, { unlessOnce: endingMark('t1') });
    expect(await r.client.hexists(keys.eventOnce(uid), endingMark('t1'))).toBe(0);
    await markEnding(r.client, uid, 't1');
    const late = progress(30);
    await pub.publishUser(late, { unlessOnce: endingMark('t1') });
    // Another task of the same user is not affected by t1's mark.
    const other = makeEvent('task.progress_update', uid, { task_id: 't2', status: 'processing', progress: 5 });
    await pub.publishUser(other, { unlessOnce: endingMark('t2') });
    const done = makeEvent('task.progress_update', uid, { task_id: 't1', status: 'completed', progress: 100 });
    await pub.publishUser(done, { once: 't1' });
    await waitFor(() => ch.messages.some((m) => m.event_id === done.event_id), 5000, 'the terminal event');
    expect(ch.messages.map((m) => m.event_id)).toEqual([first.event_id, second.event_id, other.event_id, done.event_id]);
    const history = (await r.client.lrange(keys.eventHistory(uid), 0, -1)).map((j) => (JSON.parse(j) as { event_id: string }).event_id);
    expect(history).toEqual([first.event_id, second.event_id, other.event_id, done.event_id]);
    await ch.close();
  });
});

describe('publish script on a 3-node Redis Cluster', () => {
  let cluster: TestCluster | undefined;
  afterAll(async () => {
    await cluster?.stop();
  });

  it('runs without CROSSSLOT for many users (history, lease and state share the user’s slot) and still fences', async () => {
    cluster = await startCluster();
    const ports = cluster.nodes.map((n) => n.port);
    const h = createRedis({ settings: { host: '127.0.0.1', port: ports[0]!, password: undefined, tls: false, tlsVerify: true, db: 0, cluster: true }, name: 'events-cluster', logger: silentLogger() });
    try {
      await waitReady(h.client, 20000);
      const pub: EventPublisher = publisherOn(h.client);
      const leases = leasesOn(h.client, 'inst-cluster');
      const users = Array.from({ length: 24 }, () => uniq('clu'));
      // Users spread over every node (the slots differ), each user's keys in one slot.
      const slots = new Set(users.map((u) => Number(execFileSync('redis-cli', ['-p', String(ports[0]), 'CLUSTER', 'KEYSLOT', keys.eventHistory(u)]).toString().trim())));
      expect(slots.size).toBeGreaterThan(1);
      expect(await leases.tryAcquire(users)).toHaveLength(users.length);
      for (const uid of users) {
        const fenced = pub.fenced(leases.fence(uid)!);
        await fenced.publishUser(makeEvent('notif.sync', uid, { notifications: [{ doc_id: 'd1' }], count: 1, timestamp: new Date().toISOString() }));
        await fenced.publishChat(makeEvent('chat.message', uid, { text: 'hi' }), 'sp', 'th');
        await pub.publishUser(makeEvent('task.progress_update', uid, { progress: 1 }));
        // A terminal task event published "once" twice (a recovered retry): one history entry.
        const done = () => makeEvent('task.progress_update', uid, { task_id: 't1', status: 'completed', progress: 100 });
        await pub.publishUser(done(), { once: 't1' });
        await pub.publishUser(done(), { once: 't1' });
        expect(await h.client.llen(keys.eventHistory(uid))).toBe(4);
        expect((await leases.previousState(uid))?.has('d1')).toBe(true);
      }
      // Fencing on the cluster: another owner's value refuses the publish.
      const uid = users[0]!;
      await h.client.set(keys.lease(uid), 'someone-else|999');
      await expect(pub.fenced(leases.fence(uid)!).publishUser(makeEvent('notif.add', uid, { doc_id: 'x' }))).rejects.toBeInstanceOf(FencedError);
      expect(await h.client.llen(keys.eventHistory(uid))).toBe(4);
      const live = await leases.heartbeat();
      expect(live).toBe(1);
      await leases.release(users[1]!, { forgetState: true });
      expect(await h.client.exists(keys.notifState(users[1]!))).toBe(0);
    } finally {
      await h.close();
    }
  }, 60_000);
});
