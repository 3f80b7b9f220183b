/**
 * bench/jobs: background tasks through the whole path, at 1 and at 4 workers (concurrency), against
 * a bare-BullMQ baseline measured in the same run.
 *
 * Service path: TASK.start_document_analysis over POST /rpc (app.inject: auth, validation,
 * idempotency, registry document, `queued` event, queue add) → BullMQ worker (payload check,
 * registry updates, invoice extraction, progress events) → `completed` event received by a Redis
 * subscriber on `user:{uid}`. Latency = RPC sent → the worker's first event (`started`) received.
 * Baseline: `queue.add` → Worker with a no-op processor → QueueEvents `completed`; latency = add →
 * QueueEvents `active`.
 *
 *   npx tsx bench/jobs.ts            (BENCH_JOBS=400 tasks per run; BENCH_REDIS_URL to use a server)
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { buildApi } from '../src/api/buildApi.js';
import { loadConfig } from '../src/config/load.js';
import { createCore } from '../src/core.js';
import { createFirebase } from '../src/shared/firebase.js';
import { silentLogger } from '../src/shared/logger.js';
import { createRedis, waitReady } from '../src/shared/redis.js';
import { setupTasks, startWorkers } from '../src/workers/index.js';
import { benchFirestore, benchRedis, countdown, percentile, round } from './jobs-lib.js';

const N = Number(process.env.BENCH_JOBS ?? 400);
const IN_FLIGHT = 32;
const TIMEOUT_MS = 120_000;
const TOKEN = 'bench-token-0123456789';
const invoice = readFileSync(new URL('../test/fixtures/workers/invoice-en.txt', import.meta.url), 'utf8');

interface Result {
  path: string;
  workers: number;
  tasks: number;
  tasks_per_s: number;
  first_event_p50_ms: number;
  first_event_p99_ms: number;
}

async function pool(n: number, inFlight: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < n) await fn(next++);
  }));
}

const PACED = Number(process.env.BENCH_PACED ?? 100);

function latencyRow(path: string, workers: number, lat: number[]) {
  const s = [...lat].sort((a, b) => a - b);
  return { path, workers, tasks: s.length, p50_ms: round(percentile(s, 50)), p99_ms: round(percentile(s, 99)) };
}

function summary(path: string, workers: number, startedAt: number, endedAt: number, lat: number[]): Result {
  const s = [...lat].sort((a, b) => a - b);
  return { path, workers, tasks: lat.length, tasks_per_s: round(lat.length / ((endedAt - startedAt) / 1000), 1), first_event_p50_ms: round(percentile(s, 50)), first_event_p99_ms: round(percentile(s, 99)) };
}

async function main() {
  const redis = await benchRedis();
  const fs = await benchFirestore();
  const env = { LISTENERS_REDIS_HOST: redis.host, LISTENERS_REDIS_PORT: String(redis.port), LISTENERS_SERVICE_TOKEN: TOKEN, LOG_LEVEL: 'silent', FIREBASE_PROJECT_ID: 'demo-bench', QUEUE_PREFIX: `bench${Date.now()}`, RPC_IDEMP_TTL: '60', UNIFIED_REGISTRY_ENABLED: process.env.BENCH_UNIFIED ?? 'true' };
  const cfg = await loadConfig(env);
  if (!cfg.ok) throw new Error(cfg.problems.join('; '));
  const config = cfg.config;
  const logger = silentLogger();
  const core = createCore({ config, logger, firebase: createFirebase(config.firebase) });
  const app = buildApi(core.deps);
  await setupTasks({ core, app }, { dashboard: false });
  await app.ready();
  const sub = createRedis({ settings: config.redis, name: 'bench-sub', logger });
  await waitReady(sub.client);
  const results: Result[] = [];
  const unloaded: Array<ReturnType<typeof latencyRow>> = [];

  for (const workers of [1, 4]) {
    // --- baseline: bare BullMQ, no-op processor ---
    {
      const conn = createRedis({ settings: config.queueRedis, name: 'bench-base', logger, maxRetriesPerRequest: null });
      const qname = `baseline${workers}`;
      const q = new Queue(qname, { connection: conn.client, prefix: config.queuePrefix });
      const qeConn = createRedis({ settings: config.queueRedis, name: 'bench-base-events', logger, maxRetriesPerRequest: null });
      const qe = new QueueEvents(qname, { connection: qeConn.client, prefix: config.queuePrefix });
      await qe.waitUntilReady();
      const w = new Worker(qname, async () => null, { connection: conn.client, prefix: config.queuePrefix, concurrency: workers });
      await w.waitUntilReady();
      const sent = new Map<string, number>();
      const lat: number[] = [];
      const cd = countdown(N, TIMEOUT_MS);
      qe.on('active', ({ jobId }) => {
        const t = sent.get(jobId);
        if (t !== undefined) lat.push(performance.now() - t);
      });
      qe.on('completed', ({ jobId }) => sent.has(jobId) && cd.tick());
      const t0 = performance.now();
      await pool(N, IN_FLIGHT, async (i) => {
        const id = `b${i}`;
        sent.set(id, performance.now());
        await q.add('noop', { i }, { jobId: id, removeOnComplete: true });
      });
      await cd.done;
      results.push(summary('baseline: bare BullMQ add → no-op worker → QueueEvents', workers, t0, performance.now(), lat));
      // Unloaded latency: one job at a time.
      const paced: number[] = [];
      for (let i = 0; i < PACED; i++) {
        const id = `p${i}`;
        const finished = new Promise<void>((r) => qe.once('completed', () => r()));
        const t = performance.now();
        const active = new Promise<void>((r) => qe.once('active', () => (paced.push(performance.now() - t), r())));
        await q.add('noop', { i }, { jobId: id, removeOnComplete: true });
        await Promise.all([active, finished]);
      }
      unloaded.push(latencyRow('baseline', workers, paced));
      await w.close();
      await qe.close();
      await q.obliterate({ force: true });
      await q.close();
      await conn.close();
      await qeConn.close();
    }
    // --- service: RPC → worker → completed event on user:{uid} ---
    {
      const handle = await startWorkers({ core }, { queues: ['computation'], concurrency: workers });
      const uid = `bench_${randomUUID().slice(0, 8)}`;
      const sent = new Map<string, number>();
      const lat: number[] = [];
      const cd = countdown(N, TIMEOUT_MS);
      const onMessage = (_ch: string, raw: string) => {
        const e = JSON.parse(raw) as { type: string; payload: { task_id: string; status: string } };
        if (e.type !== 'task.progress_update') return;
        const t = sent.get(e.payload.task_id);
        if (t === undefined) return;
        if (e.payload.status === 'started') lat.push(performance.now() - t);
        else if (e.payload.status === 'completed') cd.tick();
        else if (e.payload.status === 'failed') throw new Error(`task failed: ${raw}`);
      };
      sub.client.on('message', onMessage);
      await sub.client.subscribe(`${config.channelPrefix}${uid}`);
      const t0 = performance.now();
      await pool(N, IN_FLIGHT, async (i) => {
        const jobId = `w${workers}_${i}`;
        sent.set(`doc_analysis_${jobId}`, performance.now());
        const res = await app.inject({
          method: 'POST',
          url: '/rpc',
          headers: { authorization: `Bearer ${TOKEN}` },
          payload: { api_version: 'v1', method: 'TASK.start_document_analysis', args: [uid, { content: invoice }, jobId], idempotency_key: randomUUID() },
        });
        if (!res.json().ok) throw new Error(`rpc failed: ${res.body}`);
      });
      await cd.done;
      results.push(summary('service: RPC → worker (invoice extraction) → completed event', workers, t0, performance.now(), lat));
      // Unloaded latency: one task at a time.
      const paced: number[] = [];
      for (let i = 0; i < PACED; i++) {
        const jobId = `paced${workers}_${i}`;
        const taskId = `doc_analysis_${jobId}`;
        let firstAt = 0;
        const finished = new Promise<void>((r) => {
          const h = (_c: string, raw: string) => {
            const e = JSON.parse(raw) as { payload: { task_id: string; status: string } };
            if (e.payload.task_id !== taskId) return;
            if (e.payload.status === 'started') firstAt = performance.now();
            if (e.payload.status === 'completed') (sub.client.off('message', h), r());
          };
          sub.client.on('message', h);
        });
        const t = performance.now();
        await app.inject({ method: 'POST', url: '/rpc', headers: { authorization: `Bearer ${TOKEN}` }, payload: { api_version: 'v1', method: 'TASK.start_document_analysis', args: [uid, { content: invoice }, jobId], idempotency_key: randomUUID() } });
        await finished;
        paced.push(firstAt - t);
      }
      unloaded.push(latencyRow('service', workers, paced));
      sub.client.off('message', onMessage);
      await sub.client.unsubscribe();
      await handle.close();
    }
  }

  const base = (w: number) => results.find((r) => r.workers === w && r.path.startsWith('baseline'))!;
  const rows = results.map((r) => ({
    ...r,
    throughput_vs_baseline: round(r.tasks_per_s / base(r.workers).tasks_per_s, 3),
    p50_vs_baseline: round(r.first_event_p50_ms / base(r.workers).first_event_p50_ms, 2),
  }));
  console.log(JSON.stringify({ tasks_per_run: N, in_flight: IN_FLIGHT, saturated: rows, unloaded_first_event_latency: unloaded }, null, 2));
  console.log('\n| path | workers | tasks/s | p50 first event (ms) | p99 first event (ms) | tasks/s vs baseline |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.path} | ${r.workers} | ${r.tasks_per_s} | ${r.first_event_p50_ms} | ${r.first_event_p99_ms} | ${r.throughput_vs_baseline} |`);

  console.log('\n| unloaded (one at a time) | workers | p50 first event (ms) | p99 first event (ms) | p50 vs baseline |');
  console.log('|---|---|---|---|---|');
  for (const u of unloaded) {
    const b = unloaded.find((x) => x.path === 'baseline' && x.workers === u.workers)!;
    console.log(`| ${u.path} | ${u.workers} | ${u.p50_ms} | ${u.p99_ms} | ${round(u.p50_ms / b.p50_ms, 2)} |`);
  }
  await sub.close();
  await app.close();
  await core.lifecycle.close(10000);
  fs.stop();
  await redis.stop();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
