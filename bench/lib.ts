/** Small shared bench utilities: a private redis-server, free ports, percentiles, CPU of a process tree. */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { freePort, waitForPort } from '../scripts/lib/net.js';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export { freePort } from '../scripts/lib/net.js';
export const waitPort = (port: number, ms = 10000) => waitForPort(port, ms);

/** A private redis-server for the bench (never the developer's 6379), or BENCH_REDIS_URL. */
export async function benchRedis(): Promise<{ host: string; port: number; stop(): Promise<void> }> {
  if (process.env.BENCH_REDIS_URL) {
    const u = new URL(process.env.BENCH_REDIS_URL);
    return { host: u.hostname, port: Number(u.port || 6379), stop: async () => {} };
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--maxclients', '20000'], { stdio: 'ignore' });
  await waitPort(port);
  return {
    host: '127.0.0.1',
    port,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Where the original's stack rebuilt for benchmarking lives: BASELINES_DIR, else ../shared/baselines next to the repo. */
export function baselinesDir(): { dir: string; present: boolean } {
  const dir = process.env.BASELINES_DIR ? resolve(process.env.BASELINES_DIR) : fileURLToPath(new URL('../../shared/baselines', import.meta.url));
  return { dir, present: existsSync(dir) };
}

export const PYTHON = '/usr/bin/python3';

/**
 * Checks that Debian's python3 can import `modules`; when it cannot and this runs as root, installs
 * `debs` with apt-get. Returns undefined when ready, else a sentence saying what to install.
 */
export function ensurePython(modules: readonly string[], debs: readonly string[]): string | undefined {
  const check = () => spawnSync(PYTHON, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' }).status === 0;
  if (!existsSync(PYTHON)) return `${PYTHON} not found: install ${debs.join(' ')} (apt-get install python3 ${debs.join(' ')})`;
  if (check()) return undefined;
  if (process.getuid?.() === 0) {
    process.stderr.write(`installing ${debs.join(' ')} with apt-get for the original's baseline...\n`);
    const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...debs], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
    if (!install()) {
      spawnSync('apt-get', ['update'], { stdio: 'ignore' });
      install();
    }
    if (check()) return undefined;
  }
  return `${PYTHON} cannot import ${modules.join(', ')}: run \`sudo apt-get install ${debs.join(' ')}\``;
}

/** A child process's exit, or SIGKILL after `graceMs` (a profiled child writes its profile on a clean exit). */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGINT', graceMs = 15000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** The Firestore emulator in its own process (bench/firestore-emulator.ts); host for FIRESTORE_EMULATOR_HOST. */
export async function benchFirestoreProcess(): Promise<{ host: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = fork(fileURLToPath(new URL('./firestore-emulator.ts', import.meta.url)), [String(port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`firestore emulator exited ${code}`)));
  });
  return { host: `127.0.0.1:${port}`, stop: () => stopProcess(child, 'SIGTERM') };
}

/** CPU seconds (user + system) of a process and all its descendants, from /proc (Linux). */
export function treeCpuSeconds(rootPids: readonly number[]): number {
  const tick = 100; // USER_HZ on Linux
  const procs = new Map<number, { ppid: number; cpu: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) start after the last ')'.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(name), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / tick });
    } catch {
      // the process ended while reading
    }
  }
  const inTree = (pid: number): boolean => {
    for (let p: number | undefined = pid, depth = 0; p && depth < 64; p = procs.get(p)?.ppid, depth++) if (rootPids.includes(p)) return true;
    return false;
  };
  let total = 0;
  for (const [pid, p] of procs) if (inTree(pid)) total += p.cpu;
  return total;
}
