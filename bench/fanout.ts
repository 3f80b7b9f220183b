/**
 * Fan-out benchmark (issue 5, issue 12): 10,000 connected sockets on one server node, clients in
 * separate processes (4 × 2,500, websocket transport only). Measures PUBLISH → receipt latency
 * p50/p99/max at 1,000 and 10,000 events/s (each event addressed to a random one of the users, with
 * the publish time in its payload), every event received counted, and server memory per socket
 * (RSS and heap) for each of, in the same run:
 *   - socket.io (gateway)        the gateway's socket.io path
 *   - bare socket.io (baseline)  a plain socket.io server with the Redis adapter, room user:{uid},
 *                                `io.to(room).emit('event', env)` per published event, same clients
 *   - /ws (gateway)              the gateway's raw /ws endpoint
 *   - bare ws (baseline)         a bare `ws` server (one SUBSCRIBE per uid, raw frames)
 * Ratios: each gateway path against its own baseline. Memory per socket is the steady state (see
 * steadyMem: sampled until RSS stops falling), before and after the connections, for every variant.
 *
 *   npm run bench:fanout                         (10,000 sockets, 5 s per rate, 1k and 10k ev/s)
 *   FANOUT_SOCKETS=2000 FANOUT_RATES=500,2000 FANOUT_SECONDS=3 npm run bench:fanout   (a quick run)
 *   FANOUT_VARIANTS=sio-gateway,sio-bare,ws-gateway,ws-bare   FANOUT_PROCS=4   BENCH_REDIS_URL
 *   npm run bench:fanout -- --profile            (or PROFILE=1: each server process under --cpu-prof)
 * Bounded: every phase has a timeout, the whole run a cap (FANOUT_CAP_MINUTES, default 15).
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { makeEvent } from '../src/shared/events.js';
import { benchEntry, execArgvWithoutTsx } from './build.js';
import { benchRedis, freePort, percentile, round } from './lib.js';
import { markWindow, monoUs, profileArgs, profileNote } from './profile.js';

const SOCKETS = Number(process.env.FANOUT_SOCKETS ?? 10000);
const PROCS = Number(process.env.FANOUT_PROCS ?? 4);
const SECONDS = Number(process.env.FANOUT_SECONDS ?? 5);
const RATES = (process.env.FANOUT_RATES ?? '1000,10000').split(',').map((x) => Number(x.trim()));
const CAP_MINUTES = Number(process.env.FANOUT_CAP_MINUTES ?? 15);
const VARIANTS = {
  'sio-gateway': 'socket.io (gateway)',
  'sio-bare': 'bare socket.io (baseline)',
  'ws-gateway': '/ws (gateway)',
  'ws-bare': 'bare ws (baseline)',
} as const;
type VariantKey = keyof typeof VARIANTS;
const WANTED = (process.env.FANOUT_VARIANTS ?? Object.keys(VARIANTS).join(',')).split(',').map((x) => x.trim()) as VariantKey[];
for (const v of WANTED) if (!Object.hasOwn(VARIANTS, v)) throw new Error(`unknown variant ${v} (known: ${Object.keys(VARIANTS).join(', ')})`);
for (const [name, n] of [['FANOUT_SOCKETS', SOCKETS], ['FANOUT_PROCS', PROCS], ['FANOUT_SECONDS', SECONDS], ['FANOUT_CAP_MINUTES', CAP_MINUTES], ...RATES.map((r) => ['FANOUT_RATES', r] as const)] as const) {
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be positive numbers`);
}
const TOKEN = 'bench-service-token-0123456789abcdef';

// Raise the open-files limit for this process tree where possible (re-exec under a shell ulimit).
if (process.platform === 'linux' && !process.env.FANOUT_ULIMIT_DONE) {
  const soft = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
  if (Number.isFinite(soft) && soft < SOCKETS * 2 + 1000) {
    const r = spawnSync('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, FANOUT_ULIMIT_DONE: '1' },
    });
    process.exit(r.status ?? 1);
  }
}

const killAll = new Set<ChildProcess>();
const cap = setTimeout(() => {
  console.error(`fanout bench: ${CAP_MINUTES}-minute cap reached, stopping`);
  for (const c of killAll) c.kill('SIGKILL');
  process.exit(2);
}, CAP_MINUTES * 60_000);
cap.unref();

function child(file: string, args: string[], execArgv: string[] = []): ChildProcess {
  // Compiled JavaScript (bench/build.ts), as production runs it; BENCH_TSX=1 for the sources under tsx.
  const [entry, ...loader] = benchEntry(`bench/${file}`).reverse();
  const c = fork(entry!, args, { execArgv: [...execArgvWithoutTsx(), ...loader.reverse(), ...execArgv], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  killAll.add(c);
  c.once('exit', () => killAll.delete(c));
  return c;
}

function nextMessage<T>(c: ChildProcess, pred: (m: any) => boolean, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      c.off('message', on);
      reject(new Error(`timeout waiting for ${what}`));
    }, timeoutMs);
    const on = (m: any) => {
      if (pred(m)) {
        clearTimeout(t);
        c.off('message', on);
        resolve(m as T);
      }
    };
    c.on('message', on);
  });
}

const stopChild = async (c: ChildProcess, graceMs = 10000) => {
  if (c.exitCode !== null) return;
  c.send({ cmd: 'stop' });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([new Promise((r) => c.once('exit', r)), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
  clearTimeout(timer);
  if (c.exitCode === null) c.kill('SIGKILL');
};

/** received: this phase's events, each counted once; late_from_earlier: an earlier rate's events arriving during this one. */
interface RateResult { rate: number; published: number; received: number; duplicates: number; late_from_earlier: number; p50_ms: number; p99_ms: number; max_ms: number }
interface VariantResult { variant: string; connected: number; failed: number; connect_s: number; settle_s: number; mem_per_socket_kb: number; rss_at_settle_per_socket_kb: number; heap_per_socket_kb: number; rates: RateResult[] }

type Mem = { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };

/**
 * The server's memory once it is steady: sampled (after GC) every 2.5 s until RSS stops falling
 * (less than 1 MiB between samples; at most 20 s). Right after a connect storm RSS still holds the
 * storm's transient garbage (the gateway's connect-time Firestore reads): committed V8 heap and
 * allocator pages that V8's memory reducer hands back over the next seconds — a /ws gateway's RSS
 * per socket fell from 23 to 3.9 KiB in 15 s. Memory per socket is measured on the steady state,
 * for every variant alike, before the connections and after them; the value at settle is kept too.
 */
async function steadyMem(server: ChildProcess): Promise<{ first: Mem; steady: Mem; waitedS: number }> {
  const sample = async () => {
    server.send({ cmd: 'mem' });
    return (await nextMessage<{ mem: Mem }>(server, (m) => m.mem, 30000, 'mem')).mem;
  };
  const first = await sample();
  let last = first;
  const t0 = performance.now();
  while (performance.now() - t0 < 20000) {
    await new Promise((r) => setTimeout(r, 2500));
    const next = await sample();
    const fell = last.rss - next.rss;
    last = next;
    if (fell < 1024 * 1024) break;
  }
  return { first, steady: last, waitedS: round((performance.now() - t0) / 1000, 1) };
}

async function publishAt(pub: Redis, rate: number, seconds: number, phase: number): Promise<number> {
  const tickMs = 10;
  const perTick = rate / (1000 / tickMs);
  const startT = performance.now();
  let sent = 0;
  let owed: number;
  while (performance.now() - startT < seconds * 1000) {
    const due = Math.floor(((performance.now() - startT) / 1000) * rate) - sent;
    owed = Math.min(due, perTick * 5);
    if (owed > 0) {
      const p = pub.pipeline();
      for (let i = 0; i < owed; i++) {
        const uid = `bu${Math.floor(Math.random() * SOCKETS)}`;
        const env = makeEvent('task.progress_update', uid, { t: Number(process.hrtime.bigint()) / 1e6, n: sent + i, ph: phase });
        p.publish(`user:${uid}`, JSON.stringify(env));
      }
      sent += owed;
      await p.exec();
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  return sent;
}

async function runVariant(key: VariantKey, redis: { host: string; port: number }, firestoreHost: string, pub: Redis): Promise<VariantResult> {
  const variant = VARIANTS[key];
  const serverKind = key === 'ws-bare' ? 'ws' : key === 'sio-bare' ? 'sio' : 'gateway';
  const clientKind = key === 'sio-gateway' || key === 'sio-bare' ? 'sio' : key === 'ws-gateway' ? 'gws' : 'ws';
  const profileName = `fanout-${key}`;
  const server = child('fanout-server.ts', [serverKind, redis.host, String(redis.port), firestoreHost], ['--expose-gc', ...profileArgs('fanout', profileName)]);
  const { port } = await nextMessage<{ port: number }>(server, (m) => m.ready, 60000, 'server ready');
  const url = `http://127.0.0.1:${port}`;
  const mem0 = (await steadyMem(server)).steady;
  const t0 = performance.now();
  const per = Math.ceil(SOCKETS / PROCS);
  const clients = Array.from({ length: PROCS }, (_, i) => child('fanout-client.ts', [clientKind, url, String(i * per), String(Math.min(per, SOCKETS - i * per)), TOKEN]));
  const conn = await Promise.all(clients.map((c) => nextMessage<{ connected: number; failed: number }>(c, (m) => m.connected !== undefined, 180000, 'clients connected')));
  const connectS = (performance.now() - t0) / 1000;
  const connected = conn.reduce((a, c) => a + c.connected, 0);
  const failed = conn.reduce((a, c) => a + c.failed, 0);
  // Wait until every connection finished its connect-time work (subscribe, syncs from Firestore):
  // live events are held per connection until then, which is not what this bench measures.
  const settleStart = performance.now();
  for (;;) {
    server.send({ cmd: 'attaching' });
    const { attaching } = await nextMessage<{ attaching: number }>(server, (m) => m.attaching !== undefined, 10000, 'attaching');
    if (attaching === 0 || performance.now() - settleStart > 120000) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const settleS = (performance.now() - settleStart) / 1000;
  const { first: memAtSettle, steady: mem1, waitedS } = await steadyMem(server);
  // Where the RSS per socket goes besides the live heap: V8's committed heap and memory outside it.
  const m0 = mem0;
  const perSocket = (a: number, b: number) => `${round((a - b) / Math.max(1, connected) / 1024, 1)} KiB`;
  console.error(`${variant}: per socket: rss ${perSocket(mem1.rss, m0.rss)} (${perSocket(memAtSettle.rss, m0.rss)} right after the connect storm settled, steady after ${waitedS} s), heap used ${perSocket(mem1.heapUsed, m0.heapUsed)}, heap committed ${perSocket(mem1.heapTotal, m0.heapTotal)}, external ${perSocket(mem1.external, m0.external)} (array buffers ${perSocket(mem1.arrayBuffers, m0.arrayBuffers)})`);
  const rates: RateResult[] = [];
  for (const [phase, rate] of RATES.entries()) {
    await Promise.all(clients.map((c) => (c.send({ cmd: 'reset', phase }), nextMessage(c, (m) => m.reset, 10000, 'reset'))));
    const from = monoUs();
    const published = await publishAt(pub, rate, SECONDS, phase);
    // Drain: until every client's count stops growing (bounded).
    // Drain: until everything arrived, or nothing new for 2 s (bounded to 20 s).
    let lat: number[] = [];
    let stale = 0;
    let duplicates = 0;
    let prev = -1;
    let still = 0;
    for (let i = 0; i < 80 && still < 8; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const reports = await Promise.all(clients.map((c) => (c.send({ cmd: 'report' }), nextMessage<{ latencies: number[]; stale: number; duplicates: number }>(c, (m) => m.latencies, 20000, 'report'))));
      lat = reports.flatMap((r) => r.latencies);
      stale = reports.reduce((a, r) => a + r.stale, 0);
      duplicates = reports.reduce((a, r) => a + r.duplicates, 0);
      if (lat.length >= published) break;
      still = lat.length === prev ? still + 1 : 0;
      prev = lat.length;
    }
    markWindow('fanout', profileName, from, monoUs(), `${rate}`);
    lat.sort((a, b) => a - b);
    rates.push({ rate, published, received: lat.length, duplicates, late_from_earlier: stale, p50_ms: round(percentile(lat, 50)), p99_ms: round(percentile(lat, 99)), max_ms: round(lat.at(-1) ?? NaN) });
    console.error(`${variant} @ ${rate}/s: published ${published}, received ${lat.length} (duplicates ${duplicates}, late from the previous rate ${stale}), p50 ${round(percentile(lat, 50))} ms, p99 ${round(percentile(lat, 99))} ms, max ${round(lat.at(-1) ?? NaN)} ms`);
  }
  await Promise.all(clients.map((c) => stopChild(c)));
  // A profiled server writes its profile as it exits: give its shutdown time before SIGKILL.
  await stopChild(server, 60000);
  const n = Math.max(1, connected);
  return {
    variant,
    connected,
    failed,
    connect_s: round(connectS, 1),
    settle_s: round(settleS, 1),
    mem_per_socket_kb: round((mem1.rss - mem0.rss) / n / 1024, 1),
    rss_at_settle_per_socket_kb: round((memAtSettle.rss - mem0.rss) / n / 1024, 1),
    heap_per_socket_kb: round((mem1.heapUsed - mem0.heapUsed) / n / 1024, 1),
    rates,
  };
}

async function main() {
  const redis = await benchRedis();
  const fsPort = await freePort();
  const firestore = child('firestore-emulator.ts', [String(fsPort)]);
  await nextMessage(firestore, (m) => m.ready, 30000, 'firestore emulator');
  const pub = new Redis({ host: redis.host, port: redis.port, connectionName: 'bench:fanout-pub' });
  const results: VariantResult[] = [];
  try {
    for (const v of WANTED) results.push(await runVariant(v, redis, `127.0.0.1:${fsPort}`, pub));
  } finally {
    pub.disconnect();
    firestore.send({ cmd: 'stop' });
    for (const c of killAll) c.kill('SIGTERM');
    await redis.stop();
  }
  // Each gateway path against its own baseline: socket.io against bare socket.io, /ws against bare ws.
  const baseOf = (r: VariantResult) => results.find((b) => b.variant === (r.variant.includes('socket.io') ? VARIANTS['sio-bare'] : VARIANTS['ws-bare']));
  const ratio = (a: number, b: number | undefined) => (b !== undefined && b > 0 ? round(a / b, 2) : null);
  const ratios = results
    .filter((r) => !r.variant.startsWith('bare'))
    .map((r) => {
      const base = baseOf(r);
      return {
        variant: r.variant,
        baseline: base?.variant ?? null,
        rss_per_socket: ratio(r.mem_per_socket_kb, base?.mem_per_socket_kb),
        heap_per_socket: ratio(r.heap_per_socket_kb, base?.heap_per_socket_kb),
        ...Object.fromEntries(r.rates.flatMap((x, i) => [[`p50@${x.rate}`, ratio(x.p50_ms, base?.rates[i]?.p50_ms)], [`p99@${x.rate}`, ratio(x.p99_ms, base?.rates[i]?.p99_ms)]])),
      };
    });
  const summary = { sockets: SOCKETS, client_processes: PROCS, seconds_per_rate: SECONDS, rates: RATES, results, ratios_vs_own_baseline: ratios };
  console.log(JSON.stringify(summary, null, 2));
  console.log(`\n${SOCKETS} sockets (${PROCS} client processes), ${SECONDS} s per rate, node ${process.version}\n`);
  console.log('| variant | connected | rate (ev/s) | received/published | duplicates | late from previous rate | p50 ms | p99 ms | max ms | RSS per socket (steady) | RSS per socket right after the storm | heap per socket |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results)
    for (const x of r.rates)
      console.log(`| ${r.variant} | ${r.connected} | ${x.rate} | ${x.received}/${x.published} | ${x.duplicates} | ${x.late_from_earlier} | ${x.p50_ms} | ${x.p99_ms} | ${x.max_ms} | ${r.mem_per_socket_kb} KiB | ${r.rss_at_settle_per_socket_kb} KiB | ${r.heap_per_socket_kb} KiB |`);
  console.log('\n| variant ÷ its baseline | rate (ev/s) | p50 | p99 | RSS per socket (steady) | heap per socket |');
  console.log('|---|---|---|---|---|---|');
  for (const q of ratios)
    for (const rate of RATES) {
      const rec = q as Record<string, unknown>;
      const x = (v: unknown) => (v === null || v === undefined ? '-' : `${typeof v === 'number' ? v : JSON.stringify(v)}x`);
      console.log(`| ${q.variant} ÷ ${q.baseline ?? '(not run)'} | ${rate} | ${x(rec[`p50@${rate}`])} | ${x(rec[`p99@${rate}`])} | ${x(q.rss_per_socket)} | ${x(q.heap_per_socket)} |`);
    }
  const note = profileNote('fanout');
  if (note) console.log(`\n${note}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    for (const c of killAll) c.kill('SIGKILL');
    process.exit(1);
  },
);
