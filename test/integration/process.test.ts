import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisEnv, startFirestore, TEST_TOKEN, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import { freePort } from '../helpers/net.js';

const tsx = ['--import', 'tsx', 'src/main.ts'];

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, tsx, { env: { PATH: process.env.PATH ?? '', METADATA_SERVER_DETECTION: 'none', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, out: () => out, err: () => err };
}

let fs: FirestoreEmulator;
beforeAll(async () => {
  fs = await startFirestore();
});
afterAll(() => fs?.stop());

describe('process', () => {
  it('bad configuration exits non-zero and lists every problem', async () => {
    const p = run({ NODE_ENV: 'production', PORT: 'x', UNIFIED_REGISTRY_ENABLED: 'perhaps', CONTAINER_TYPE: 'nope' });
    expect(await p.exited).toBe(1);
    const err = p.err();
    for (const name of ['LISTENERS_SERVICE_TOKEN', 'PORT', 'UNIFIED_REGISTRY_ENABLED', 'CONTAINER_TYPE']) expect(err).toContain(name);
    expect(err).toContain('4 problem(s)');
  });

  it('starts, serves /healthz, and drains on SIGTERM with exit code 0', async () => {
    const port = await freePort();
    const p = run({
      ...(redisEnv() as Record<string, string>),
      PORT: String(port),
      HOST: '127.0.0.1',
      CONTAINER_TYPE: 'api',
      LISTENERS_SERVICE_TOKEN: TEST_TOKEN,
      FIREBASE_PROJECT_ID: 'demo-test',
      FIRESTORE_EMULATOR_HOST: fs.host,
      LISTENERS_ENABLED: 'false',
      SHUTDOWN_GRACE_MS: '5000',
    });
    const health = await waitFor(async () => {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      return r.ok ? ((await r.json()) as Record<string, unknown>) : undefined;
    }, 20000, 'healthz');
    expect(health).toMatchObject({ status: 'ok', redis: 'ok' });
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.out()).toContain('shutting down');
  });
});
