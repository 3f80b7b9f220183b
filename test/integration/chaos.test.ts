import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io as ioClient, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../src/shared/events.js';
import { keys } from '../../src/shared/keys.js';
import { createRedis, waitReady, type RedisHandle } from '../../src/shared/redis.js';
import { silentLogger } from '../../src/shared/logger.js';
import { startFirestore, TEST_TOKEN, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import { freePort, waitForPort } from '../helpers/net.js';
import { crashSigns, spawnRole, type RoleProcess } from '../helpers/roles.js';

/**
 * Chaos, bounded and local: a private redis-server, two `api` and a `beat` (src/main.ts), two
 * workers (the same workers with a short job lock), all child processes; TASKS vector tasks over
 * USERS users, two socket.io clients per user (one on each api). Mid-run: Redis is frozen with
 * SIGSTOP for 5 s, one api and one worker are SIGKILLed and restarted. At the end every task has
 * exactly one terminal event, every socket saw every event of its user's history exactly once and
 * in order (reconnect + replay from `last_event_id` included), and no process crashed.
 */
const TASKS = Number(process.env.CHAOS_TASKS || 1000);
const USERS = 100;
const SUBMIT_CONCURRENCY = 16;
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

let fs: FirestoreEmulator;
let redisDir: string;
let redisProc: ChildProcess;
let redisPort: number;
let redis: RedisHandle;
const procs: RoleProcess[] = [];
const sockets: Array<{ uid: string; socket: Socket; events: EventEnvelope[]; reconnects: number; replayed: unknown[] }> = [];

const isTaskEvent = (e: EventEnvelope) => e.type === 'task.progress_update';
const payloadOf = (e: EventEnvelope) => e.payload as { task_id: string; status: string; progress: number };

beforeAll(async () => {
  fs = await startFirestore();
  redisPort = await freePort();
  redisDir = mkdtempSync(join(tmpdir(), 'pinnokio-chaos-'));
  // Its own Redis: the test freezes it, so never the shared test Redis.
  redisProc = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir, '--maxclients', '20000'], { stdio: 'ignore' });
  await waitForPort(redisPort, 10000);
  redis = createRedis({ settings: { host: '127.0.0.1', port: redisPort, password: undefined, tls: false, tlsVerify: true, db: 0, cluster: false }, name: 'chaos-test', logger: silentLogger() });
  await waitReady(redis.client);
}, 30000);

afterAll(async () => {
  for (const s of sockets) s.socket.close();
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  if (redisProc && redisProc.exitCode === null) redisProc.kill('SIGCONT');
  await redis?.close();
  redisProc?.kill('SIGKILL');
  fs?.stop();
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
});

describe('chaos', () => {
  it(`${TASKS} tasks, ${USERS * 2} sockets, Redis frozen 5 s, an api and a worker SIGKILLed and restarted: every task once, every event on every socket in order`, async () => {
    const started = Date.now();
    const env = {
      LISTENERS_REDIS_HOST: '127.0.0.1',
      LISTENERS_REDIS_PORT: String(redisPort),
      FIRESTORE_EMULATOR_HOST: fs.host,
      LISTENERS_ENABLED: 'false',
      UNIFIED_REGISTRY_ENABLED: 'true',
      WORKER_QUEUES: 'computation',
      WORKER_CONCURRENCY: '8',
      EVENT_HISTORY_MAXLEN: '5000',
      EVENT_HISTORY_MAX_AGE_SECONDS: '3600',
      LOG_LEVEL: 'warn',
    };
    const apiPorts = [await freePort(), await freePort()];
    const startApi = (i: number) => spawnRole('api', env, `chaos-api-${i}`, { port: apiPorts[i] });
    // Job lock above the 5 s freeze (a shorter one would expire while Redis is frozen and hand the
    // job to a second worker), still far below production's 30 s so a killed worker's job returns soon.
    const startWorker = (i: number) => spawnRole('worker', env, `chaos-worker-${i}`, { workerLockMs: 8000 });
    const initial = await Promise.all([startApi(0), startApi(1), startWorker(0), startWorker(1), spawnRole('beat', { ...env, LOG_LEVEL: 'info' }, 'chaos-beat')]);
    procs.push(...initial);
    // The api readiness line is at info level; wait on /healthz instead (LOG_LEVEL=warn here).
    const healthy = (p: RoleProcess) =>
      waitFor(
        async () => {
          if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`${p.name} exited: ${p.stderr().slice(-1500)} ${p.stdout().slice(-1500)}`);
          return (await fetch(`${p.url}/healthz`).catch(() => undefined))?.ok;
        },
        60000,
        `${p.name} healthz`,
      );
    await Promise.all(initial.map((p) => (p.role === 'api' ? healthy(p) : p.ready(60000))));
    const startupMs = Date.now() - started;

    // Sockets: two per user, one on each api; they reconnect by themselves and ask for a replay
    // from the last event they saw.
    const users = Array.from({ length: USERS }, () => uniq('cx'));
    for (const uid of users) {
      for (const port of apiPorts) {
        const rec = { uid, socket: undefined as unknown as Socket, events: [] as EventEnvelope[], reconnects: 0, replayed: [] as unknown[] };
        const lastTaskEvent = () => [...rec.events].reverse().find(isTaskEvent)?.event_id;
        rec.socket = ioClient(`http://127.0.0.1:${port}`, {
          transports: ['websocket'],
          forceNew: true,
          reconnectionDelay: 200,
          reconnectionDelayMax: 1000,
          auth: (cb) => cb({ service_token: TEST_TOKEN, uid, ...(lastTaskEvent() ? { last_event_id: lastTaskEvent() } : {}) }),
        });
        rec.socket.on('event', (e: EventEnvelope) => rec.events.push(e));
        rec.socket.on('replayed', (r: unknown) => rec.replayed.push(r));
        rec.socket.io.on('reconnect', () => (rec.reconnects += 1));
        sockets.push(rec);
      }
    }
    await waitFor(() => sockets.every((s) => s.socket.connected), 30000, 'every socket connected');

    // Submit TASKS tasks, round-robin over users and apis; an attempt that fails (Redis frozen, api
    // killed) is retried with the same idempotency key and collection.
    const tasks = Array.from({ length: TASKS }, (_, i) => ({ uid: users[i % USERS]!, collection: uniq('col'), key: uniq('k'), taskId: '' }));
    let submitted = 0;
    let retries = 0;
    let conflicts = 0;
    let found = 0;
    const submitOne = async (t: (typeof tasks)[number], i: number) => {
      let last: string | undefined;
      for (let attempt = 0; ; attempt++) {
        const port = apiPorts[(i + attempt) % 2]!;
        try {
          // A retry first asks whether the earlier attempt took effect: an api killed mid-request
          // may have started the task without storing its idempotent answer, and resubmitting a
          // task that already finished would run it a second time.
          if (attempt > 0) {
            const st = await fetch(`http://127.0.0.1:${port}/rpc`, {
              method: 'POST',
              headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
              body: JSON.stringify({ api_version: 'v1', method: 'TASK.get_task_status', idempotency_key: uniq('k'), args: [`embeddings_${t.collection}`] }),
              signal: AbortSignal.timeout(10000),
            });
            const sb = (await st.json()) as { ok: boolean; data?: { success?: boolean; status?: string }; error?: { code: string } };
            // Ended: it ran, do not run it again. Not ended: resubmit; a live task answers CONFLICT,
            // and one whose start died before enqueuing (an orphan) is started again.
            if (sb.ok && sb.data?.success && TERMINAL.has(sb.data.status ?? '')) {
              t.taskId = `embeddings_${t.collection}`;
              found += 1;
              submitted += 1;
              return;
            }
            if (!sb.ok && sb.error?.code !== 'NOT_FOUND') throw new Error(`status: ${JSON.stringify(sb).slice(0, 200)}`);
          }
          const res = await fetch(`http://127.0.0.1:${port}/rpc`, {
            method: 'POST',
            headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
            body: JSON.stringify({ api_version: 'v1', method: 'TASK.start_vector_computation', idempotency_key: t.key, kwargs: { user_id: t.uid, collection_name: t.collection, documents: [{ id: 'd1', text: `invoice ${i} from ACME` }] } }),
            signal: AbortSignal.timeout(10000),
          });
          const text = await res.text();
          last = `${res.status} ${text.slice(0, 300)}`;
          const body = JSON.parse(text) as { ok: boolean; data?: { task_id: string }; error?: { code: string } };
          if (body.ok && body.data) {
            t.taskId = body.data.task_id;
            submitted += 1;
            return;
          }
          // An earlier attempt did enqueue it (its answer was lost to the freeze or the kill): the
          // task exists once, which is what a retry must find.
          if (body.error?.code === 'CONFLICT' && /already (queued|running)/.test(text)) {
            t.taskId = `embeddings_${t.collection}`;
            conflicts += 1;
            submitted += 1;
            return;
          }
        } catch (err) {
          // frozen Redis, killed api: try again
          last = (err as Error).message;
        }
        retries += 1;
        if (attempt > 60) throw new Error(`task ${i} could not be submitted: ${last ?? 'no answer'}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    let next = 0;
    const submitting = Promise.all(
      Array.from({ length: SUBMIT_CONCURRENCY }, async () => {
        while (next < tasks.length) {
          const i = next++;
          await submitOne(tasks[i]!, i);
        }
      }),
    );

    // Terminal events seen by the first socket of each user (progress of the run, drives the chaos).
    const terminalsSeen = () => sockets.filter((_, i) => i % 2 === 0).reduce((a, s) => a + s.events.filter((e) => isTaskEvent(e) && TERMINAL.has(payloadOf(e).status)).length, 0);
    const phase = async (atTerminals: number, what: string) => waitFor(() => terminalsSeen() >= Math.min(atTerminals, TASKS), 120000, `${what} (${atTerminals} terminal events)`);

    // Every socket has seen an event of its user before the chaos starts, so it has a
    // last_event_id to resume from (a socket that never saw one has nothing to replay from).
    await waitFor(() => sockets.every((s) => s.events.some(isTaskEvent)), 120000, 'a first event on every socket');
    await phase(Math.floor(TASKS * 0.15), 'before the freeze');
    console.info(`[chaos] freezing Redis at ${new Date().toISOString()}`);
    redisProc.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 5000)); // the chaos itself: Redis frozen for 5 s
    redisProc.kill('SIGCONT');

    await phase(Math.floor(TASKS * 0.35), 'before killing an api');
    const deadApi = procs[0]!;
    console.info(`[chaos] killing api-0 at ${new Date().toISOString()}`);
    await deadApi.kill('SIGKILL');
    const api0b = await startApi(0);
    procs.push(api0b);
    await healthy(api0b);

    await phase(Math.floor(TASKS * 0.55), 'before killing a worker');
    console.info(`[chaos] killing worker-0 at ${new Date().toISOString()}`);
    await procs[2]!.kill('SIGKILL');
    const worker0b = await startWorker(0);
    procs.push(worker0b);
    await worker0b.ready(45000);

    await submitting;
    expect(submitted).toBe(TASKS); // every task was accepted once (or found already ended)
    const byUser = new Map<string, Array<(typeof tasks)[number]>>();
    for (const t of tasks) byUser.set(t.uid, [...(byUser.get(t.uid) ?? []), t]);
    // Done: every task's terminal event is in its user's history, and every socket has caught up.
    const history = async (uid: string) => (await redis.client.lrange(keys.eventHistory(uid), 0, -1)).map((s) => JSON.parse(s) as EventEnvelope);
    await waitFor(
      async () => {
        for (const [uid, list] of byUser) {
          const h = await history(uid);
          const done = new Set(h.filter((e) => isTaskEvent(e) && TERMINAL.has(payloadOf(e).status)).map((e) => payloadOf(e).task_id));
          if (!list.every((t) => done.has(t.taskId))) return false;
        }
        return true;
      },
      90000,
      'every task terminal in the history',
    ).catch(async (err: Error) => {
      const missing: string[] = [];
      for (const [uid, list] of byUser) {
        const h = await history(uid);
        for (const t of list) {
          const mine = h.filter((e) => isTaskEvent(e) && payloadOf(e).task_id === t.taskId);
          if (!mine.some((e) => TERMINAL.has(payloadOf(e).status))) {
            // Where BullMQ has the job: its hash (attempts, stalls, failure) and the active list.
            const job = await redis.client.hgetall(`{bull}:computation:${t.taskId}`).catch(() => ({}));
            const active = await redis.client.lpos('{bull}:computation:active', t.taskId).catch(() => null);
            const { data: _d, opts: _o, ...fields } = job as Record<string, string>;
            missing.push(`${t.taskId}: [${mine.map((e) => payloadOf(e).status).join(',')}] job=${JSON.stringify(fields).slice(0, 300)} active_index=${active}`);
          }
        }
      }
      throw new Error(`${err.message}; ${missing.length} tasks without a terminal event: ${missing.slice(0, 5).join(' | ')}`);
    });
    const histories = new Map<string, EventEnvelope[]>();
    for (const uid of users) histories.set(uid, (await history(uid)).filter(isTaskEvent));
    await waitFor(() => sockets.every((s) => s.events.filter(isTaskEvent).length >= histories.get(s.uid)!.length), 60000, 'every socket caught up').catch((err: Error) => {
      const lagging = sockets
        .map((s, i) => ({ s, i, got: s.events.filter(isTaskEvent).map((e) => e.event_id), want: histories.get(s.uid)!.map((e) => e.event_id) }))
        .filter((x) => x.got.length < x.want.length);
      const detail = lagging.slice(0, 4).map(({ s, i, got, want }) => {
        const missing = want.filter((id) => !got.includes(id));
        const firstMissing = want.indexOf(missing[0]!);
        const ev = histories.get(s.uid)![firstMissing]!;
        return `[missing ${ev.type} ${JSON.stringify(ev.payload).slice(0, 200)} at ${ev.timestamp}] socket ${i} (${i % 2 ? 'api-1' : 'api-0'}) connected=${s.socket.connected} reconnects=${s.reconnects} got=${got.length}/${want.length} missing=${missing.length} first-missing-index=${firstMissing} replayed=${JSON.stringify(s.replayed)}`;
      });
      throw new Error(`${err.message}; ${lagging.length} sockets lag: ${detail.join(' | ')}`);
    });
    const elapsedMs = Date.now() - started;

    // Exactly one terminal event per task, and it is `completed`.
    for (const t of tasks) {
      const terminals = histories.get(t.uid)!.filter((e) => payloadOf(e).task_id === t.taskId && TERMINAL.has(payloadOf(e).status));
      expect(terminals.map((e) => payloadOf(e).status), `task ${t.taskId}`).toEqual(['completed']);
    }
    // Every socket: exactly its user's history, in order, no duplicate, nothing of anyone else.
    for (const s of sockets) {
      const got = s.events.filter(isTaskEvent);
      expect(got.every((e) => e.uid === s.uid)).toBe(true);
      expect(got.map((e) => e.event_id), `socket of ${s.uid}`).toEqual(histories.get(s.uid)!.map((e) => e.event_id));
    }
    // Nobody crashed: the processes we did not kill are still running, and no output shows a fatal error.
    for (const p of procs) {
      expect(crashSigns(p), `${p.name}: ${p.stderr().slice(-1500)}`).toEqual([]);
      if (p !== deadApi && p !== procs[2]) expect(p.child.exitCode, `${p.name} exited`).toBeNull();
    }
    const reconnected = sockets.filter((s) => s.reconnects > 0).length;
    expect(reconnected).toBeGreaterThanOrEqual(USERS); // at least the killed api's sockets came back
    console.info(
      `[chaos] ${TASKS} tasks / ${sockets.length} sockets: startup ${startupMs} ms, run ${elapsedMs - startupMs} ms, total ${elapsedMs} ms; ` +
        `${retries} submit retries (${found} found their task started by an earlier attempt, ${conflicts} got CONFLICT); ${reconnected} sockets reconnected; ${sockets.reduce((a, s) => a + s.events.filter(isTaskEvent).length, 0)} task events delivered`,
    );
  }, 240000);
});
