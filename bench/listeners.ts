/**
 * Listener latency and memory with 1,000 online users attached (issue 4).
 *
 *   npx tsx bench/listeners.ts            (USERS, SAMPLES, BENCH_REDIS_URL optional)
 *
 * Measures, in one run:
 * - end_to_end: Firestore write issued → event received on `user:{uid}` (Redis subscriber);
 * - ours: snapshot callback (the envelope's timestamp, taken in the callback, ms resolution) →
 *   event received: our share (normalise, the publish script: fence + history + PUBLISH, delivery);
 * - Redis round trips per published event: commands the main client sent during sampling (the
 *   publish script is one EVALSHA per event);
 * - baseline_emulator: write issued → a raw onSnapshot callback in this process on a probe query,
 *   i.e. the emulator's own cost with the same number of listeners;
 * - baseline_redis: PUBLISH → receive on the same Redis, the floor of any delivery;
 * - memory per attached user (heap and RSS delta / users, after GC when --expose-gc is on).
 * The emulator and the RTDB server run in a child process so their CPU is not on our event loop.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { FieldValue } from 'firebase-admin/firestore';
import { loadConfig } from '../src/config/load.js';
import { createCore } from '../src/core.js';
import { createFirebase } from '../src/shared/firebase.js';
import { silentLogger } from '../src/shared/logger.js';
import { freePort, spawnReady, startRedisServer, stats } from './listeners-lib.js';

const USERS = Number(process.env.USERS ?? 1000);
const SAMPLES = Number(process.env.SAMPLES ?? 150);
const DEADLINE = Date.now() + 8 * 60_000; // attaching 1,000 users costs the emulator ~4 min (quadratic)

function childRss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : -1;
  } catch {
    return -1;
  }
}

const gc = (globalThis as { gc?: () => void }).gc;
const mem = () => {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
};

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 180_000) {
  const end = Math.min(Date.now() + timeoutMs, DEADLINE);
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main() {
  const redisSrv = process.env.BENCH_REDIS_URL ? undefined : await startRedisServer();
  const ru = process.env.BENCH_REDIS_URL ? new URL(process.env.BENCH_REDIS_URL) : undefined;
  const redisHost = ru?.hostname ?? redisSrv!.host;
  const redisPort = Number(ru?.port || redisSrv?.port || 6379);
  const [fsPort, rtdbPort] = [await freePort(), await freePort()];
  const child = await spawnReady(['servers', String(fsPort), String(rtdbPort)]);
  process.env.FIRESTORE_EMULATOR_HOST = `127.0.0.1:${fsPort}`;
  process.env.FIREBASE_DATABASE_EMULATOR_HOST = `127.0.0.1:${rtdbPort}`;

  const res = await loadConfig({
    LISTENERS_REDIS_HOST: redisHost,
    LISTENERS_REDIS_PORT: String(redisPort),
    FIREBASE_PROJECT_ID: 'demo-bench',
    FIREBASE_DATABASE_EMULATOR_HOST: `127.0.0.1:${rtdbPort}`,
    LOG_LEVEL: 'silent',
    INSTANCE_ID: 'bench',
    LISTENERS_SERVICE_TOKEN: 'bench-token-0123456789abcdef',
    // notif.add goes to the consumer channel user:{uid} (by default deltas stay on the internal
    // rt:deltas:{uid} channel, CONTRACT §13.5, and this bench would wait for them forever).
    LISTENERS_REDIS_DELTAS: 'true',
  });
  if (!res.ok) throw new Error(res.problems.join('; '));
  const config = res.config;
  const firebase = createFirebase(config.firebase);
  const core = createCore({ config, logger: silentLogger(), firebase, listeners: 'watchers', listenerOptions: { expiryCheckMs: 5000, detachGraceMs: 15000, leaseRetryMs: 1000 } });
  const db = firebase.firestore;
  const sub = new Redis({ host: redisHost, port: redisPort, connectionName: 'bench-sub' });
  const pub = new Redis({ host: redisHost, port: redisPort, connectionName: 'bench-pub' });

  // Wrap the publisher (bench-side, no production hook): when our code hands an event to Redis.
  // Listeners publish through a per-lease (fenced) publisher, so the wrap goes on `fenced`.
  const handedAt = new Map<string, number>();
  const origFenced = core.deps.publisher.fenced.bind(core.deps.publisher);
  core.deps.publisher.fenced = (fence) => {
    const p = origFenced(fence);
    const origPublishUser = p.publishUser.bind(p);
    p.publishUser = async (ev) => {
      if (ev.type === 'notif.add') handedAt.set(ev.event_id, performance.now());
      return origPublishUser(ev);
    };
    return p;
  };
  // Commands the main client sends during sampling, by name (bench-side count of round trips).
  const sent = new Map<string, number>();
  let counting = false;
  const client = core.redis.client as unknown as { sendCommand(cmd: { name: string }): unknown };
  const origSend = client.sendCommand.bind(client);
  client.sendCommand = (cmd) => {
    if (counting) sent.set(cmd.name, (sent.get(cmd.name) ?? 0) + 1);
    return origSend(cmd);
  };
  const publishedTotal = async () => {
    let n = 0;
    for (const type of ['notif.sync', 'notif.add', 'notif.update', 'notif.remove']) n += await core.deps.metrics.value('events_published_total', { type });
    return n;
  };
  const memBefore = mem();
  const listeners = await core.listeners!.start();
  const users = Array.from({ length: USERS }, (_, i) => `bench_u${i}`);
  const attachStart = Date.now();
  // Users come online in steps (the emulator struggles with hundreds of new listeners at once).
  const STEP = 100;
  for (let i = 0; i < users.length; i += STEP) {
    const batch = db.batch();
    for (const uid of users.slice(i, i + STEP)) batch.set(db.collection('listeners_registry').doc(uid), { status: 'online', heartbeat_at: FieldValue.serverTimestamp(), ttl_seconds: 3600 });
    await batch.commit();
    const target = Math.min(users.length, i + STEP);
    await until(async () => (await core.deps.metrics.value('listeners_watchers_attached', { kind: 'notifications' })) >= target, `${target} users attached`);
    if (process.env.BENCH_VERBOSE) console.error(`attached ${target} in ${(Date.now() - attachStart) / 1000}s, rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB, child rss ${childRss(child.pid!)} MiB`);
  }
  await until(async () => (await core.deps.metrics.value('listeners_watchers_attached', { kind: 'notifications' })) >= USERS, 'all users attached');
  const attachSeconds = (Date.now() - attachStart) / 1000;
  const memAfter = mem();

  // Receivers: every user channel, plus the Redis floor channel.
  const waiting = new Map<string, (env: { timestamp: string; event_id: string }) => void>();
  sub.on('message', (ch: string, msg: string) => {
    const env = JSON.parse(msg) as { type: string; payload: { doc_id?: string }; timestamp: string; event_id: string };
    const key = ch === 'bench:floor' ? 'floor' : env.type === 'notif.add' ? `${ch}|${env.payload.doc_id}` : undefined;
    if (key) waiting.get(key)?.(env);
  });
  await sub.subscribe('bench:floor', ...users.map((u) => `user:${u}`));

  const published0 = await publishedTotal();
  counting = true;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const e2e: number[] = [];
  const ours: number[] = [];
  const handToReceive: number[] = [];
  for (let i = 0; i < SAMPLES && Date.now() < DEADLINE - 30_000; i++) {
    const uid = users[Math.floor(Math.random() * users.length)]!;
    const docId = `n${i}`;
    const got = new Promise<{ at: number; env: { timestamp: string; event_id: string } }>((r) => waiting.set(`user:${uid}|${docId}`, (env) => r({ at: performance.now(), env })));
    const t0 = performance.now();
    const w0 = Date.now();
    await db.collection('clients').doc(uid).collection('notifications').doc(docId).set({ collection_id: 'c', message: 'bench', timestamp: FieldValue.serverTimestamp(), read: false });
    const { at, env } = await got;
    const received = w0 + (at - t0);
    e2e.push(at - t0);
    ours.push(Math.max(0, received - Date.parse(env.timestamp)));
    const h = handedAt.get(env.event_id);
    if (h !== undefined) handToReceive.push(at - h);
  }

  loop.disable();
  counting = false;
  const publishedN = (await publishedTotal()) - published0;
  // The publish script is one EVALSHA per event (EVAL once if Redis lacked it). The commands a
  // publish used to send besides it (MULTI/RPUSH/LTRIM/EXPIRE/EXEC, PUBLISH, the GET fence check)
  // are listed; GET is also used by other components on this client (feature-flag polls), and lease
  // renewals are EVALs of their own scripts.
  const scriptCalls = sent.get('evalsha') ?? 0;
  const oldPathCommands = ['multi', 'rpush', 'ltrim', 'exec', 'publish'].reduce((n, c) => n + (sent.get(c) ?? 0), 0);
  const cpu = process.cpuUsage(cpu0);
  const cpuShare = Math.round(((cpu.user + cpu.system) / 1000 / (performance.now() - wall0)) * 100);
  // Baseline 1: the emulator alone, a raw onSnapshot on a probe query (same listener count + 1).
  const probe = db.collection('clients').doc('bench_probe').collection('notifications');
  let onProbe: ((id: string) => void) | undefined;
  const unsub = probe.where('read', '==', false).onSnapshot((s) => s.docChanges().forEach((c) => onProbe?.(c.doc.id)));
  const emu: number[] = [];
  for (let i = 0; i < Math.min(60, SAMPLES) && Date.now() < DEADLINE - 20_000; i++) {
    const id = `p${i}`;
    const got = new Promise<number>((r) => (onProbe = (x) => x === id && r(performance.now())));
    const t0 = performance.now();
    await probe.doc(id).set({ read: false, message: 'probe' });
    emu.push((await got) - t0);
  }
  unsub();

  // Baseline 2: Redis PUBLISH → receive.
  const floor: number[] = [];
  for (let i = 0; i < 200; i++) {
    const got = new Promise<number>((r) => waiting.set('floor', () => r(performance.now())));
    const t0 = performance.now();
    await pub.publish('bench:floor', '{"type":"floor","payload":{}}');
    floor.push((await got) - t0);
  }

  const E = stats(e2e);
  const O = stats(ours);
  const B = stats(emu);
  const F = stats(floor);
  const H = stats(handToReceive);
  const summary = {
    users: USERS,
    attach_seconds: attachSeconds,
    end_to_end_write_to_user_channel: E,
    ours_snapshot_callback_to_received_ms_resolution: O,
    ours_publisher_call_to_received: H,
    baseline_emulator_write_to_raw_snapshot: B,
    baseline_redis_publish_to_receive: F,
    ratios: {
      end_to_end_p50_over_emulator_p50: Math.round((E.p50_ms / B.p50_ms) * 100) / 100,
      ours_p50_over_redis_floor_p50: Math.round((O.p50_ms / Math.max(F.p50_ms, 0.01)) * 100) / 100,
    },
    redis_round_trips: {
      events_published: publishedN,
      publish_script_calls_per_event: publishedN > 0 ? Math.round((scriptCalls / publishedN) * 100) / 100 : null,
      multi_rpush_ltrim_exec_publish_sent: oldPathCommands,
      commands_sent_during_sampling: Object.fromEntries([...sent.entries()].sort((a, b) => b[1] - a[1])),
    },
    during_sampling: { event_loop_delay_p50_ms: Math.round(loop.percentile(50) / 1e4) / 100, event_loop_delay_p99_ms: Math.round(loop.percentile(99) / 1e4) / 100, this_process_cpu_percent: cpuShare },
    memory_per_attached_user: {
      heap_kib: Math.round(((memAfter.heap - memBefore.heap) / USERS / 1024) * 10) / 10,
      rss_kib: Math.round(((memAfter.rss - memBefore.rss) / USERS / 1024) * 10) / 10,
      gc: gc ? 'forced' : 'not forced (run with NODE_OPTIONS=--expose-gc for a cleaner number)',
    },
  };
  console.log(JSON.stringify(summary, null, 2));
  console.log(`\n| measure | p50 ms | p99 ms | n |\n|---|---|---|---|`);
  console.log(`| end to end (write → user:{uid}) | ${E.p50_ms} | ${E.p99_ms} | ${E.n} |`);
  console.log(`| ours (snapshot callback → received) | ${O.p50_ms} | ${O.p99_ms} | ${O.n} |`);
  console.log(`| ours (publisher call → received) | ${H.p50_ms} | ${H.p99_ms} | ${H.n} |`);
  console.log(`| baseline: emulator write → raw snapshot | ${B.p50_ms} | ${B.p99_ms} | ${B.n} |`);
  console.log(`| baseline: Redis publish → receive | ${F.p50_ms} | ${F.p99_ms} | ${F.n} |`);
  console.log(`\nRedis round trips per published event: ${summary.redis_round_trips.publish_script_calls_per_event} (${scriptCalls} EVALSHA for ${publishedN} events; MULTI/RPUSH/LTRIM/EXEC/PUBLISH sent: ${oldPathCommands})`);

  await listeners.close();
  await core.lifecycle.close(5000);
  sub.disconnect();
  pub.disconnect();
  child.kill('SIGKILL');
  redisSrv?.stop();
  process.exit(0);
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
