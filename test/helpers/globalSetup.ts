import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort, waitForPort } from './net.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisHost: string;
    redisPort: number;
  }
}

/**
 * Starts a private redis-server for the whole run (never the developer's 6379), or uses
 * TEST_REDIS_URL when set. Removed afterwards.
 */
export default async function setup(project: TestProject) {
  const url = process.env.TEST_REDIS_URL;
  if (url) {
    const u = new URL(url);
    project.provide('redisHost', u.hostname);
    project.provide('redisPort', Number(u.port || 6379));
    return () => undefined;
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'pinnokio-test-redis-'));
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--maxclients', '20000'],
    { stdio: 'ignore' },
  );
  child.on('error', (err) => {
    console.error(`cannot start redis-server (${err.message}); install it (apt-get install redis-server) or set TEST_REDIS_URL`);
  });
  await waitForPort(port, 10000);
  project.provide('redisHost', '127.0.0.1');
  project.provide('redisPort', port);
  return async () => {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  };
}
