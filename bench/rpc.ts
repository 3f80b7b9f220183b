/**
 * bench/rpc: REGISTRY.register_user throughput and p50/p99 latency at a fixed concurrency through
 * the whole RPC layer, next to a bare Fastify route doing the same Redis commands and the original
 * service's own stack (`original_rpc.py`: FastAPI + redis-py, one uvicorn worker), in one run; with
 * each server's CPU per request over its timed window (from /proc), which a shared machine's noise
 * moves less than req/s.
 *
 *   npm run bench:rpc                          (BENCH_SECONDS=8 BENCH_WARMUP_SECONDS=2 BENCH_CONCURRENCY=32)
 *   npm run bench:rpc -- --profile             (or PROFILE=1: each Node server under --cpu-prof)
 *   BENCH_RPC_TARGETS=bare,rpc,original        (a subset, in that order)
 *   BENCH_ROUNDS=3                             (every target 3 times, interleaved; the median round is shown with the range)
 *   BENCH_GENERATOR=node                       (the Node http client instead of wrk)
 *
 * One fresh redis-server (private port) serves every target, flushed between them; the Firestore
 * emulator (presence writes of the rpc modes) runs in a process of its own. Each server runs
 * alone in a child process (compiled JavaScript, bench/build.ts); the load generator (wrk, one
 * thread, keep-alive; or the Node client in this process) runs a warm-up and then a timed window
 * against each in turn. The original needs Debian's python3-fastapi,
 * python3-uvicorn and python3-redis for /usr/bin/python3 (installed here with apt-get when run as
 * root); its folder is BASELINES_DIR (default ../shared/baselines next to the repo). When either is
 * missing, only that row is skipped and the reason printed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { baselinesDir, benchFirestoreProcess, benchRedis, ensurePython, freePort, percentile, PYTHON, round, stopProcess, treeCpuSeconds, waitPort } from './lib.js';
import { benchEntry } from './build.js';
import { markWindow, monoUs, profileArgs, profileNote } from './profile.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
/** Rounds over every target, interleaved (a busy machine drifts between targets); rows show the median round. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error('BENCH_ROUNDS must be a positive integer');
const TOKEN = 'bench-token-0123456789';

const TARGETS = {
  bare: { path: '/bare', what: 'bare Fastify route, same registry Redis commands (baseline)' },
  'bare-idemp': { path: '/bare', what: 'bare route + the idempotency commands' },
  'rpc-nopresence': { path: '/rpc', what: 'full RPC layer, Firestore presence write stubbed (our own share)' },
  rpc: { path: '/rpc', what: 'full RPC layer + Firestore presence on the emulator (own process) (ours)' },
  original: { path: '/rpc', what: "the original's stack: FastAPI + redis-py, 1 uvicorn worker (original_rpc.py)" },
} as const;
type Target = keyof typeof TARGETS;

function readPort(child: ChildProcess, what: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /PORT (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${what} server exited ${code}`)));
  });
}

async function startNode(mode: Target, redisPort: number, firestoreHost: string): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [...profileArgs('rpc', `rpc-${mode}`), ...benchEntry('bench/rpc-server.ts'), mode, String(redisPort), firestoreHost], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, METADATA_SERVER_DETECTION: 'none', NODE_ENV: 'production' },
  });
  return { port: await readPort(child, mode), child };
}

async function startOriginal(dir: string, redisPort: number): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(PYTHON, ['-m', 'uvicorn', 'original_rpc:app', '--app-dir', dir, '--host', '127.0.0.1', '--port', String(port), '--workers', '1', '--log-level', 'warning', '--no-access-log'], {
    cwd: dir,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, LISTENERS_REDIS_HOST: '127.0.0.1', LISTENERS_REDIS_PORT: String(redisPort), LISTENERS_SERVICE_TOKEN: TOKEN, PYTHONDONTWRITEBYTECODE: '1' },
  });
  const died = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`original_rpc.py exited ${code}`))));
  await Promise.race([waitPort(port, 30000), died]);
  return { port, child };
}

function post(agent: Agent, port: number, path: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        // Only the start of the body is kept: enough to check that the call succeeded.
        let head = '';
        res.on('data', (d: Buffer) => {
          if (head.length < 64) head += d.toString('latin1', 0, 64);
        });
        res.on('end', () => resolve(res.statusCode === 200 && head.startsWith('{"ok":true') ? 200 : -(res.statusCode ?? 0)));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The load generator every target gets: CONCURRENCY keep-alive connections, each sending the next
 * request when the last one answered. wrk (C, one thread; bench/rpc-wrk.lua) by default: it leaves
 * the two cores to the servers, where a Node client took most of one. BENCH_GENERATOR=node uses the
 * Node client below instead (the figures of earlier runs).
 */
async function load(port: number, path: string, seconds: number, record: boolean) {
  return GENERATOR === 'wrk' ? loadWrk(port, path, seconds) : loadNode(port, path, seconds, record);
}

/** wrk from Debian's packages (installed here with apt-get when run as root and missing); the Node client otherwise. */
function wrkAvailable(): boolean {
  const present = () => !spawnSync('wrk', ['--version']).error;
  if (present()) return true;
  if (process.getuid?.() === 0) {
    process.stderr.write('installing wrk with apt-get for the load generator...\n');
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'wrk'], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  return present();
}
const GENERATOR = process.env.BENCH_GENERATOR ?? (wrkAvailable() ? 'wrk' : 'node');
if (GENERATOR !== 'wrk' && GENERATOR !== 'node') throw new Error('BENCH_GENERATOR: wrk or node');
let runs = 0;

async function loadWrk(port: number, path: string, seconds: number) {
  const child = spawn('wrk', ['-t1', `-c${CONCURRENCY}`, `-d${seconds}s`, '--timeout', '10s', '-s', fileURLToPath(new URL('./rpc-wrk.lua', import.meta.url)), `http://127.0.0.1:${port}${path}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_TOKEN: TOKEN, BENCH_PATH: path, BENCH_RUN: `${process.pid}-${runs++}` },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  const m = /WRK (\{.*\})/.exec(out);
  if (code !== 0 || !m) throw new Error(`wrk failed (exit ${code}): ${out.slice(-500)}`);
  const w = JSON.parse(m[1]!) as { requests: number; duration_us: number; p50_us: number; p99_us: number; errors: number; socket_errors: number };
  const secs = w.duration_us / 1e6;
  return { requests: w.requests, rps: w.requests / secs, p50: w.p50_us / 1000, p99: w.p99_us / 1000, errors: w.errors + w.socket_errors };
}

async function loadNode(port: number, path: string, seconds: number, record: boolean) {
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
        if (status !== 200) errors++; // not a 200 answering {"ok":true...}
        if (record) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { requests: latencies.length, rps: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

interface Row { mode: Target; what: string; requests?: number; rps?: number; p50?: number; p99?: number; errors?: number; skipped?: string; rounds?: number[]; /** the server's CPU µs per request over the timed window */ cpuUs?: number }

async function main() {
  const wanted = (process.env.BENCH_RPC_TARGETS ?? 'bare,bare-idemp,rpc-nopresence,rpc,original').split(',').map((s) => s.trim()).filter(Boolean);
  for (const t of wanted) if (!(t in TARGETS)) throw new Error(`unknown target ${t} (known: ${Object.keys(TARGETS).join(', ')})`);
  const baselines = baselinesDir();
  let originalProblem: string | undefined;
  if (wanted.includes('original')) {
    originalProblem = !baselines.present
      ? `baselines folder ${baselines.dir} not found (set BASELINES_DIR)`
      : ensurePython(['fastapi', 'uvicorn', 'redis'], ['python3-fastapi', 'python3-uvicorn', 'python3-redis']);
  }
  const redis = await benchRedis();
  // The rpc modes' Firestore presence writes go to the emulator in a process of its own (its CPU is not the server's).
  const firestore = wanted.some((t) => t.startsWith('rpc')) ? await benchFirestoreProcess() : undefined;
  const admin = new Redis({ host: redis.host, port: redis.port, lazyConnect: false });
  const perRound: Row[] = [];
  try {
    for (let round_ = 0; round_ < ROUNDS; round_++) for (const mode of wanted as Target[]) {
      if (perRound.some((r) => r.mode === mode && r.skipped)) continue;
      const { path, what } = TARGETS[mode];
      if (mode === 'original' && originalProblem) {
        perRound.push({ mode, what, skipped: originalProblem });
        process.stderr.write(`original: skipped (${originalProblem})\n`);
        continue;
      }
      await admin.flushall();
      let started: { port: number; child: ChildProcess };
      try {
        started = mode === 'original' ? await startOriginal(baselines.dir, redis.port) : await startNode(mode, redis.port, firestore?.host ?? '');
      } catch (err) {
        // The original's stack is outside this repo: a start failure skips its row, not the run.
        if (mode !== 'original') throw err;
        perRound.push({ mode, what, skipped: `did not start: ${(err as Error).message}` });
        process.stderr.write(`original: skipped (${(err as Error).message})\n`);
        continue;
      }
      const { port, child } = started;
      try {
        await load(port, path, WARMUP, false);
        const from = monoUs();
        const cpu0 = treeCpuSeconds([child.pid!]);
        const r = await load(port, path, SECONDS, true);
        const cpuUs = ((treeCpuSeconds([child.pid!]) - cpu0) * 1e6) / Math.max(1, r.requests);
        markWindow('rpc', `rpc-${mode}`, from, monoUs());
        perRound.push({ mode, what, ...r, cpuUs });
        process.stderr.write(`${ROUNDS > 1 ? `round ${round_ + 1} ` : ''}${mode}: ${round(r.rps, 0)} req/s p50 ${round(r.p50)} ms p99 ${round(r.p99)} ms errors ${r.errors}\n`);
      } finally {
        await stopProcess(child, mode === 'original' ? 'SIGTERM' : 'SIGINT');
      }
    }
  } finally {
    admin.disconnect();
    await firestore?.stop();
    await redis.stop();
  }
  // One row per target: its median round (by req/s), with every round's req/s kept for the range.
  const results: Row[] = (wanted as Target[]).map((m) => {
    const rows = perRound.filter((r) => r.mode === m);
    const ok = rows.filter((r) => r.rps !== undefined).sort((a, b) => a.rps! - b.rps!);
    if (ok.length === 0) return rows[0] ?? { mode: m, what: TARGETS[m].what, skipped: 'not run' };
    return { ...ok[Math.floor((ok.length - 1) / 2)]!, rounds: ok.map((r) => r.rps!) };
  });
  const measured = (m: Target) => results.find((r) => r.mode === m && r.rps !== undefined);
  const bare = measured('bare');
  const orig = measured('original');
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? `${round(a / b, 2)}x` : '-');
  console.log(`\nREGISTRY.register_user, concurrency ${CONCURRENCY} (load generator: ${GENERATOR === 'wrk' ? 'wrk, 1 thread' : 'Node http client'}), ${SECONDS} s per target after ${WARMUP} s warm-up, ${ROUNDS} round(s), node ${process.version}, one redis-server\n`);
  console.log(`| target | req/s${ROUNDS > 1 ? ' (median round; range)' : ''} | req/s ÷ bare route | req/s ÷ original | p50 ms | p99 ms | p99 ÷ original p99 | server CPU µs per request | ÷ bare route | ÷ original | errors |`);
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    if (r.skipped) {
      console.log(`| ${r.what} | skipped: ${r.skipped} | | | | | | | | | |`);
      continue;
    }
    const range = r.rounds && r.rounds.length > 1 ? ` (${round(r.rounds[0]!, 0)}–${round(r.rounds.at(-1)!, 0)})` : '';
    console.log(`| ${r.what} | ${round(r.rps!, 0)}${range} | ${ratio(r.rps, bare?.rps)} | ${ratio(r.rps, orig?.rps)} | ${round(r.p50!)} | ${round(r.p99!)} | ${ratio(r.p99, orig?.p99)} | ${round(r.cpuUs!, 0)} | ${ratio(r.cpuUs, bare?.cpuUs)} | ${ratio(r.cpuUs, orig?.cpuUs)} | ${r.errors} |`);
  }
  console.log('');
  for (const m of ['rpc', 'rpc-nopresence'] as const) {
    const ours = measured(m);
    if (ours) console.log(`${m} ÷ original: ${ratio(ours.rps, orig?.rps)} req/s, p99 ${ratio(ours.p99, orig?.p99)}; ${m} ÷ bare Fastify route: ${ratio(ours.rps, bare?.rps)} req/s`);
  }
  const note = profileNote('rpc');
  if (note) console.log(`\n${note}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
