/**
 * bench/jobs: background tasks through the whole path, at 1 and 4 workers, next to a bare-BullMQ
 * baseline and the original's own job path (FastAPI + Celery), driven by the same load generator in
 * the same run.
 *
 * Paths (each phase starts its own processes; one fresh redis-server for the run, flushed between phases):
 *  - minimal:  TASK.start_vector_computation with one short document over HTTP POST /rpc (API child
 *              process: auth, validation, idempotency, registry, `queued` event, queue add) → worker
 *              child process (concurrency 1 or 4: payload check, registry, embedding, progress events)
 *              → `completed` event received by a Redis subscriber on `user:{uid}` (this process).
 *  - document: the same with TASK.start_document_analysis (invoice extraction of a fixture invoice).
 *  - original: `original_jobs.py` (uvicorn, 1 worker + `celery worker -c 2`, prefork) from
 *              BASELINES_DIR (default ../shared/baselines), TASK.start_probe, same generator and
 *              subscriber. Needs Debian's python3-fastapi python3-uvicorn python3-redis python3-celery
 *              for /usr/bin/python3 (apt-get installs them when run as root); skipped with the reason
 *              otherwise.
 *  - bare:     `queue.add` (this process) → bare BullMQ Worker with a no-op processor (child process,
 *              same concurrency) → QueueEvents `completed`.
 * Saturated: N tasks, IN_FLIGHT (32) calls outstanding at a time; tasks/s = completions from the
 * start of the load to the last completion. First event = call sent → the worker's first event
 * (`started`; for bare BullMQ: add → QueueEvents `active`). Unloaded: one task at a time.
 * Cost per task over the saturated window, steadier than tasks/s on a shared machine: CPU of the
 * path's own processes (from /proc), and from Redis INFO its CPU, commands and socket reads (each
 * read is one client write: a round trip's request, or several coalesced by the kernel).
 *
 *   npm run bench:jobs                     (BENCH_JOBS=2000 BENCH_PACED=50 BENCH_WORKERS=1,4)
 *   npm run bench:jobs -- --profile        (or PROFILE=1: API and worker processes under --cpu-prof)
 *   BENCH_JOBS_PATHS=bare,minimal,document,original   (a subset)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config/load.js';
import { costMeter, countdown, type TaskCost } from './jobs-lib.js';
import { baselinesDir, benchFirestoreProcess, benchRedis, ensurePython, freePort, percentile, PYTHON, round, stopProcess, waitPort } from './lib.js';
import { benchEntry } from './build.js';
import { markWindow, monoUs, profileArgs, profileNote } from './profile.js';

// 2,000: a 400-task run of bare BullMQ lasted a quarter of a second, mostly warm-up.
const N = Number(process.env.BENCH_JOBS ?? 2000);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 32);
const PACED = Number(process.env.BENCH_PACED ?? 50);
const WARMUP = Number(process.env.BENCH_WARMUP_TASKS ?? 32);
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,4').split(',').map((s) => Number(s.trim()));
const PATHS = (process.env.BENCH_JOBS_PATHS ?? 'bare,minimal,document,original').split(',').map((s) => s.trim());
const ORIGINAL_CONCURRENCY = Number(process.env.BENCH_ORIGINAL_CONCURRENCY ?? 2);
const TIMEOUT_MS = 180_000;
const TOKEN = 'bench-token-0123456789';
const invoice = readFileSync(new URL('../test/fixtures/workers/invoice-en.txt', import.meta.url), 'utf8');
const SHORT_DOC = { id: 'd1', text: 'Short note: ACME Corp delivered 3 widgets on 2024-05-02, total 42.00 EUR.' };

for (const p of PATHS) if (!['bare', 'minimal', 'document', 'original'].includes(p)) throw new Error(`unknown path ${p}`);
for (const w of WORKER_COUNTS) if (!Number.isInteger(w) || w < 1) throw new Error('BENCH_WORKERS: positive integers');

interface Saturated { path: string; workers: number; tasks: number; failed: number; tasks_per_s: number; first_event_p50_ms: number; first_event_p99_ms: number; cost: TaskCost }
interface Unloaded { path: string; workers: number; tasks: number; p50_ms: number; p99_ms: number }

const started = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
});

/** A bench/jobs-server.ts child; resolves with its port once it printed READY. */
async function jobsChild(args: string[], profileName: string, env: Record<string, string>): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [...profileArgs('jobs', profileName), ...benchEntry('bench/jobs-server.ts'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_JOBS_ENV: JSON.stringify(env), METADATA_SERVER_DETECTION: 'none', NODE_ENV: 'production' },
  });
  started.add(child);
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /READY (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`jobs-server ${args.join(' ')} exited ${code}`)));
  });
  return { port, child };
}

/** The original's path: uvicorn (1 worker) + celery worker -c N, in their own process groups. */
async function startOriginal(dir: string, redisPort: number): Promise<{ port: number; pids: [number, number]; stop(): Promise<void> }> {
  const port = await freePort();
  const env = { ...process.env, BASE_REDIS_PORT: String(redisPort), PYTHONDONTWRITEBYTECODE: '1' };
  const api = spawn(PYTHON, ['-m', 'uvicorn', 'original_jobs:app', '--app-dir', dir, '--host', '127.0.0.1', '--port', String(port), '--workers', '1', '--log-level', 'warning', '--no-access-log'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  const worker = spawn(PYTHON, ['-m', 'celery', '-A', 'original_jobs.celery_app', 'worker', '-c', String(ORIGINAL_CONCURRENCY), '--loglevel=warning', '--without-gossip', '--without-mingle', '--without-heartbeat'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  for (const c of [api, worker]) started.add(c);
  const died = new Promise<never>((_, reject) => api.once('exit', (code) => reject(new Error(`original_jobs uvicorn exited ${code}`))));
  // SIGTERM to the main process (Celery's warm shutdown stops its pool itself), then anything left
  // in the group (only processes this bench started) is killed.
  const killGroup = (pid: number) => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // the group is already gone
    }
  };
  const stopGroup = async (c: ChildProcess) => {
    if (c.pid === undefined) return;
    const pid = c.pid;
    if (c.exitCode === null && c.signalCode === null) {
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      const t = setTimeout(() => killGroup(pid), 15000);
      await exited;
      clearTimeout(t);
    }
    killGroup(pid);
  };
  const stop = async () => void (await Promise.all([stopGroup(api), stopGroup(worker)]));
  try {
    await Promise.race([waitPort(port, 30000), died]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, pids: [api.pid ?? 0, worker.pid ?? 0], stop };
}

function post(agent: Agent, port: number, body: string): Promise<{ ok: boolean; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/rpc', method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ ok: res.statusCode === 200 && text.startsWith('{"ok":true'), text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Follows task.progress_update events on user:{uid} for the task ids it is told about. */
class EventTracker {
  private readonly watch = new Map<string, { sent: number; onStarted?: (t: number) => void; onEnd?: (failed: boolean) => void }>();
  readonly firstEvent: number[] = [];
  completed = 0;
  failed = 0;
  lastEndAt = 0;
  constructor(readonly sub: Redis) {
    sub.on('message', (_ch: string, raw: string) => {
      let e: { type?: string; payload?: { task_id?: string; status?: string } };
      try {
        e = JSON.parse(raw) as typeof e;
      } catch {
        return;
      }
      if (e.type !== 'task.progress_update' || typeof e.payload?.task_id !== 'string') return;
      const w = this.watch.get(e.payload.task_id);
      if (!w) return;
      const now = performance.now();
      if (e.payload.status === 'started') {
        this.firstEvent.push(now - w.sent);
        w.onStarted?.(now);
      } else if (e.payload.status === 'completed' || e.payload.status === 'failed') {
        this.watch.delete(e.payload.task_id);
        if (e.payload.status === 'failed') {
          this.failed++;
          if (this.failed <= 3) process.stderr.write(`task failed: ${raw.slice(0, 500)}\n`);
        } else this.completed++;
        this.lastEndAt = now;
        w.onEnd?.(e.payload.status === 'failed');
      }
    });
  }
  expect(taskId: string, hooks: { onStarted?: (t: number) => void; onEnd?: (failed: boolean) => void } = {}): void {
    this.watch.set(taskId, { sent: performance.now(), ...hooks });
  }
  reset(): void {
    this.watch.clear();
    this.firstEvent.length = 0;
    this.completed = this.failed = this.lastEndAt = 0;
  }
}

async function pool(n: number, inFlight: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < n) await fn(next++);
  }));
}

type MakeCall = (i: number, tag: string) => { body: string; taskId: string };

/** The one load generator every RPC path gets: N calls, IN_FLIGHT at a time, then every task's end awaited. */
async function driveRpc(path: string, workers: number, port: number, tracker: EventTracker, make: MakeCall, profileNames: string[], meter: () => Promise<{ per(tasks: number): Promise<TaskCost> }>): Promise<{ sat: Saturated; unl: Unloaded }> {
  const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  const run = async (n: number, tag: string) => {
    tracker.reset();
    const cd = countdown(n, TIMEOUT_MS);
    let rpcErrors = 0;
    const t0 = performance.now();
    await pool(n, IN_FLIGHT, async (i) => {
      const { body, taskId } = make(i, tag);
      tracker.expect(taskId, { onEnd: () => cd.tick() });
      const r = await post(agent, port, body);
      if (!r.ok) {
        if (++rpcErrors <= 3) process.stderr.write(`${path}: rpc refused: ${r.text.slice(0, 300)}\n`);
        cd.tick();
      }
    });
    await cd.done;
    return { t0, rpcErrors };
  };
  await run(WARMUP, 'warm');
  const from = monoUs();
  const costs = await meter();
  const { t0, rpcErrors } = await run(N, 'sat');
  const cost = await costs.per(tracker.completed);
  for (const name of profileNames) markWindow('jobs', name, from, monoUs());
  const lat = [...tracker.firstEvent].sort((a, b) => a - b);
  const sat: Saturated = {
    path,
    workers,
    tasks: tracker.completed,
    failed: tracker.failed + rpcErrors,
    tasks_per_s: round(tracker.completed / ((tracker.lastEndAt - t0) / 1000), 1),
    first_event_p50_ms: round(percentile(lat, 50)),
    first_event_p99_ms: round(percentile(lat, 99)),
    cost,
  };
  // Unloaded: one task at a time, call sent → the worker's first event.
  tracker.reset();
  const paced: number[] = [];
  for (let i = 0; i < PACED; i++) {
    const { body, taskId } = make(i, 'paced');
    let startedAt = 0;
    const ended = new Promise<void>((resolve) => tracker.expect(taskId, { onStarted: (t) => (startedAt = t), onEnd: () => resolve() }));
    const t = performance.now();
    const r = await post(agent, port, body);
    if (!r.ok) throw new Error(`${path}: rpc refused: ${r.text.slice(0, 300)}`);
    await ended;
    if (startedAt > 0) paced.push(startedAt - t);
  }
  agent.destroy();
  paced.sort((a, b) => a - b);
  return { sat, unl: { path, workers, tasks: paced.length, p50_ms: round(percentile(paced, 50)), p99_ms: round(percentile(paced, 99)) } };
}

async function main() {
  const baselines = baselinesDir();
  let originalProblem: string | undefined;
  if (PATHS.includes('original')) {
    originalProblem = !baselines.present
      ? `baselines folder ${baselines.dir} not found (set BASELINES_DIR)`
      : ensurePython(['fastapi', 'uvicorn', 'redis', 'celery'], ['python3-fastapi', 'python3-uvicorn', 'python3-redis', 'python3-celery']);
    if (originalProblem) process.stderr.write(`original: skipped (${originalProblem})\n`);
  }
  const redis = await benchRedis();
  const firestore = PATHS.some((p) => p === 'minimal' || p === 'document') ? await benchFirestoreProcess() : undefined;
  const env: Record<string, string> = {
    LISTENERS_REDIS_HOST: redis.host,
    LISTENERS_REDIS_PORT: String(redis.port),
    LISTENERS_SERVICE_TOKEN: TOKEN,
    LOG_LEVEL: 'silent',
    FIREBASE_PROJECT_ID: 'demo-bench',
    QUEUE_PREFIX: 'benchjobs',
    RPC_IDEMP_TTL: '60',
    UNIFIED_REGISTRY_ENABLED: process.env.BENCH_UNIFIED ?? 'true',
    ...(firestore ? { FIRESTORE_EMULATOR_HOST: firestore.host } : {}),
  };
  const cfg = await loadConfig(env);
  if (!cfg.ok) throw new Error(cfg.problems.join('; '));
  const config = cfg.config;
  const admin = new Redis({ host: redis.host, port: redis.port });
  const sub = new Redis({ host: redis.host, port: redis.port });
  const tracker = new EventTracker(sub);
  const uid = `bench_${randomUUID().slice(0, 8)}`;
  await sub.subscribe(`${config.channelPrefix}${uid}`);
  if (config.channelPrefix !== 'user:') await sub.subscribe(`user:${uid}`); // the original always publishes on user:{uid}
  const saturated: Saturated[] = [];
  const unloaded: Unloaded[] = [];
  const skipped: string[] = [];
  const log = (s: Saturated, u: Unloaded) =>
    process.stderr.write(`${s.path} w${s.workers}: ${s.tasks_per_s} tasks/s (${s.tasks} done, ${s.failed} failed), first event p50 ${s.first_event_p50_ms} p99 ${s.first_event_p99_ms} ms; unloaded p50 ${u.p50_ms} p99 ${u.p99_ms} ms\n`);

  const rpcBody = (method: string, args: unknown[]) => JSON.stringify({ api_version: 'v1', method, args, idempotency_key: randomUUID() });
  const calls: Record<'minimal' | 'document', MakeCall> = {
    minimal: (i, tag) => {
      const collection = `c_${tag}_${i}_${randomUUID().slice(0, 6)}`;
      return { body: rpcBody('TASK.start_vector_computation', [uid, [SHORT_DOC], collection]), taskId: `embeddings_${collection}` };
    },
    document: (i, tag) => {
      const jobId = `j_${tag}_${i}_${randomUUID().slice(0, 6)}`;
      return { body: rpcBody('TASK.start_document_analysis', [uid, { content: invoice }, jobId]), taskId: `doc_analysis_${jobId}` };
    },
  };

  try {
    for (const workers of WORKER_COUNTS) {
      if (PATHS.includes('bare')) {
        await admin.flushall();
        const qname = `baseline${workers}`;
        const name = `jobs-bare-w${workers}-worker`;
        const w = await jobsChild(['bare-worker', String(workers), qname], name, env);
        const conn = new Redis({ host: redis.host, port: redis.port, maxRetriesPerRequest: null });
        const q = new Queue(qname, { connection: conn, prefix: config.queuePrefix });
        // From the start of the (just flushed) event stream: with '$' the events written before its
        // first blocking read would be lost, and the first completions can come before it.
        const qe = new QueueEvents(qname, { connection: { host: redis.host, port: redis.port }, prefix: config.queuePrefix, lastEventId: '0-0' });
        await qe.waitUntilReady();
        const sent = new Map<string, number>();
        const lat: number[] = [];
        let ended = 0;
        let onEnd: (() => void) | undefined;
        qe.on('active', ({ jobId }) => {
          const t = sent.get(jobId);
          if (t !== undefined) lat.push(performance.now() - t);
        });
        qe.on('completed', ({ jobId }) => {
          if (sent.has(jobId)) {
            ended++;
            onEnd?.();
          }
        });
        const runBare = async (n: number, tag: string) => {
          sent.clear();
          lat.length = 0;
          ended = 0;
          const cd = countdown(n, TIMEOUT_MS);
          onEnd = () => cd.tick();
          const t0 = performance.now();
          await pool(n, IN_FLIGHT, async (i) => {
            const id = `${tag}${i}`;
            sent.set(id, performance.now());
            await q.add('noop', { i }, { jobId: id, removeOnComplete: true });
          });
          await cd.done;
          return performance.now() - t0;
        };
        await runBare(WARMUP, 'warm');
        const from = monoUs();
        const costs = await costMeter(admin, { worker: [w.child.pid!] });
        const ms = await runBare(N, 'sat');
        const cost = await costs.per(ended);
        markWindow('jobs', name, from, monoUs());
        const s = [...lat].sort((a, b) => a - b);
        const sat: Saturated = { path: 'bare BullMQ', workers, tasks: ended, failed: 0, tasks_per_s: round(ended / (ms / 1000), 1), first_event_p50_ms: round(percentile(s, 50)), first_event_p99_ms: round(percentile(s, 99)), cost };
        // Unloaded: add → QueueEvents `active`, one job at a time.
        const paced: number[] = [];
        for (let i = 0; i < PACED; i++) {
          const id = `p${i}`;
          const done = new Promise<void>((r) => (onEnd = r));
          const t = performance.now();
          const active = new Promise<number>((r) => {
            const h = ({ jobId }: { jobId: string }) => jobId === id && (qe.off('active', h), r(performance.now()));
            qe.on('active', h);
          });
          sent.set(id, t);
          await q.add('noop', { i }, { jobId: id, removeOnComplete: true });
          paced.push((await active) - t);
          await done;
        }
        paced.sort((a, b) => a - b);
        const unl: Unloaded = { path: 'bare BullMQ', workers, tasks: paced.length, p50_ms: round(percentile(paced, 50)), p99_ms: round(percentile(paced, 99)) };
        saturated.push(sat);
        unloaded.push(unl);
        log(sat, unl);
        await stopProcess(w.child);
        await qe.close();
        await q.close();
        conn.disconnect();
      }
      for (const kind of ['minimal', 'document'] as const) {
        if (!PATHS.includes(kind)) continue;
        await admin.flushall();
        const apiName = `jobs-${kind}-w${workers}-api`;
        const workerName = `jobs-${kind}-w${workers}-worker`;
        const [api, worker] = await Promise.all([jobsChild(['api'], apiName, env), jobsChild(['worker', String(workers)], workerName, env)]);
        try {
          const label = kind === 'minimal' ? 'ours: minimal task (vector_computation, 1 short doc)' : 'ours: document analysis (invoice extraction)';
          const { sat, unl } = await driveRpc(label, workers, api.port, tracker, calls[kind], [apiName, workerName], () => costMeter(admin, { api: [api.child.pid!], worker: [worker.child.pid!] }));
          saturated.push(sat);
          unloaded.push(unl);
          log(sat, unl);
        } finally {
          await Promise.all([stopProcess(api.child), stopProcess(worker.child)]);
        }
      }
    }
    if (PATHS.includes('original')) {
      if (originalProblem) skipped.push(`original: ${originalProblem}`);
      else {
        await admin.flushall();
        const orig = await startOriginal(baselines.dir, redis.port).catch((err: Error) => {
          // The original's stack is outside this repo: a start failure skips its row, not the run.
          skipped.push(`original: did not start: ${err.message}`);
          return undefined;
        });
        if (orig) {
          try {
            const make: MakeCall = (i, tag) => {
              const jobId = `j_${tag}_${i}_${randomUUID().slice(0, 6)}`;
              return { body: rpcBody('TASK.start_probe', [uid, jobId]), taskId: `probe_${jobId}` };
            };
            const { sat, unl } = await driveRpc(`original: FastAPI + Celery -c ${ORIGINAL_CONCURRENCY} (no-op probe)`, ORIGINAL_CONCURRENCY, orig.port, tracker, make, [], () => costMeter(admin, { uvicorn: [orig.pids[0]], celery: [orig.pids[1]] }));
            saturated.push(sat);
            unloaded.push(unl);
            log(sat, unl);
          } finally {
            await orig.stop();
          }
        }
      }
    }
  } finally {
    sub.disconnect();
    admin.disconnect();
    await firestore?.stop();
    await redis.stop();
  }

  const bare = (w: number) => saturated.find((r) => r.path === 'bare BullMQ' && r.workers === w);
  const original = saturated.find((r) => r.path.startsWith('original'));
  const bareU = (w: number) => unloaded.find((r) => r.path === 'bare BullMQ' && r.workers === w);
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? `${round(a / b, 2)}x` : '-');
  console.log(JSON.stringify({ tasks_per_run: N, in_flight: IN_FLIGHT, warmup_tasks: WARMUP, paced: PACED, saturated, unloaded, skipped }, null, 2));
  console.log(`\n${N} tasks per run, ${IN_FLIGHT} calls in flight, node ${process.version}; one redis-server\n`);
  console.log('| path | workers | tasks/s | done/failed | first event p50 ms | p99 ms | tasks/s ÷ bare BullMQ | tasks/s ÷ original |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of saturated) console.log(`| ${r.path} | ${r.workers} | ${r.tasks_per_s} | ${r.tasks}/${r.failed} | ${r.first_event_p50_ms} | ${r.first_event_p99_ms} | ${ratio(r.tasks_per_s, bare(r.workers)?.tasks_per_s)} | ${ratio(r.tasks_per_s, original?.tasks_per_s)} |`);
  console.log('\n| unloaded (one task at a time): enqueue → first progress event | workers | p50 ms | p99 ms | p50 ÷ bare BullMQ |');
  console.log('|---|---|---|---|---|');
  for (const u of unloaded) console.log(`| ${u.path} | ${u.workers} | ${u.p50_ms} | ${u.p99_ms} | ${ratio(u.p50_ms, bareU(u.workers)?.p50_ms)} |`);
  console.log('\n| cost per task, saturated window | workers | server CPU ms (its own processes) | of which | Redis CPU ms | Redis commands | Redis socket reads (≈ client writes) | server CPU ÷ bare BullMQ |');
  console.log('|---|---|---|---|---|---|---|---|');
  const parts = (c: TaskCost) => Object.entries(c.by_process).map(([k, v]) => `${k} ${v}`).join(', ');
  for (const r of saturated) console.log(`| ${r.path} | ${r.workers} | ${r.cost.server_cpu_ms} | ${parts(r.cost)} | ${r.cost.redis_cpu_ms} | ${r.cost.redis_commands} | ${r.cost.redis_reads} | ${ratio(r.cost.server_cpu_ms, bare(r.workers)?.cost.server_cpu_ms)} |`);
  for (const s of skipped) console.log(`\nskipped: ${s}`);
  const note = profileNote('jobs');
  if (note) console.log(`\n${note}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
