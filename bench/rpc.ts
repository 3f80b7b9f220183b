/**
 * bench/rpc: REGISTRY.register_user throughput and p50/p99 latency at a fixed concurrency through
 * the whole RPC layer, next to a bare Fastify route doing the same Redis commands, in one run.
 *
 *   npm run bench:rpc                      (BENCH_SECONDS=8 BENCH_CONCURRENCY=32 by default)
 *
 * Each server runs alone in a child process; the load generator (keep-alive HTTP, this process)
 * runs a warm-up and then a timed window. Ratios are against the bare route of the same run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { randomUUID } from 'node:crypto';
import { benchRedis, freePort, percentile, round } from './lib.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const TOKEN = 'bench-token-0123456789';

async function startServer(mode: string, redisPort: number): Promise<{ port: number; child: ChildProcess }> {
  const fsPort = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/rpc-server.ts', mode, String(redisPort), String(fsPort)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, METADATA_SERVER_DETECTION: 'none', NODE_ENV: 'production' },
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /PORT (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${mode} server exited ${code}`)));
  });
  return { port, child };
}

function post(agent: Agent, port: number, path: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function load(port: number, path: string, seconds: number, record: boolean) {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      while (Date.now() < end) {
        const i = n++;
        const body = JSON.stringify({ api_version: 'v1', method: 'REGISTRY.register_user', args: [`bench_u${w}_${i % 500}`, `bench_s${w}_${i}`], idempotency_key: randomUUID() });
        const t0 = process.hrtime.bigint();
        const status = await post(agent, port, path, body);
        if (status !== 200) errors++;
        if (record) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { requests: latencies.length, rps: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

async function main() {
  const redis = await benchRedis();
  const modes = [
    ['bare', '/bare', 'bare Fastify route, same registry Redis commands (baseline)'],
    ['bare-idemp', '/bare', 'bare route + the idempotency commands'],
    ['rpc-nopresence', '/rpc', 'full RPC layer, Firestore presence write stubbed (our own share)'],
    ['rpc', '/rpc', 'full RPC layer + Firestore presence on the in-process emulator'],
  ] as const;
  const results: Array<Record<string, unknown>> = [];
  try {
    for (const [mode, path, what] of modes) {
      const { port, child } = await startServer(mode, redis.port);
      try {
        await load(port, path, WARMUP, false);
        const r = await load(port, path, SECONDS, true);
        results.push({ mode, what, ...r });
        process.stderr.write(`${mode}: ${round(r.rps, 0)} req/s p50 ${round(r.p50)} ms p99 ${round(r.p99)} ms errors ${r.errors}\n`);
      } finally {
        child.kill('SIGKILL');
      }
    }
  } finally {
    await redis.stop();
  }
  const base = results[0]!.rps as number;
  console.log(`\nREGISTRY.register_user, concurrency ${CONCURRENCY}, ${SECONDS} s per mode, node ${process.version}\n`);
  console.log('| mode | req/s | vs bare | p50 ms | p99 ms | errors |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(`| ${r.what} | ${round(r.rps as number, 0)} | ${round((r.rps as number) / base, 2)}x | ${round(r.p50 as number)} | ${round(r.p99 as number)} | ${r.errors} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
