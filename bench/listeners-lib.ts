/**
 * Helpers for bench/listeners.ts. Run as a script (`servers <firestorePort> <rtdbPort>`) it hosts
 * the Firestore emulator and the RTDB server in a child process, so their CPU cost (the emulator
 * evaluates every listener on every write) does not share the event loop with the listeners.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { pathToFileURL } from 'node:url';

import { freePort } from '../scripts/lib/net.js';
import { benchEntry } from './build.js';

export { freePort };

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 100) / 100;
  return { n: s.length, p50_ms: r(percentile(s, 50)), p99_ms: r(percentile(s, 99)), max_ms: r(s[s.length - 1] ?? NaN) };
}

/** Starts a child process (this file) running a process; resolves once it printed `ready`. */
export function spawnReady(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--max-old-space-size=12288', ...benchEntry('bench/listeners-lib.ts'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
  });
}

export async function startRedisServer(): Promise<{ host: string; port: number; stop(): void }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxclients', '20000'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = createServer();
      s.once('error', () => r(true)); // port taken = redis is listening
      s.listen(port, '127.0.0.1', () => s.close(() => r(false)));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host: '127.0.0.1', port, stop: () => child.kill('SIGTERM') };
}

async function servers(fsPort: number, rtdbPort: number) {
  const { FirestoreServer } = await import('@firestore-emulator/server');
  const { default: FirebaseServer } = await import('firebase-server');
  await new FirestoreServer().start(fsPort);
  const rtdb = new FirebaseServer({ port: rtdbPort, address: '127.0.0.1' }, 'demo-bench', null);
  rtdb.setAuthSecret('owner');
  process.stdout.write('ready\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && process.argv[2] === 'servers') {
  void servers(Number(process.argv[3]), Number(process.argv[4]));
}
