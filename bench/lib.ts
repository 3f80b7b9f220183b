/** Small shared bench utilities: a private redis-server, free ports, percentiles. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { freePort, waitForPort } from '../scripts/lib/net.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
