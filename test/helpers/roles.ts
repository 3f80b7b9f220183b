import { spawn, type ChildProcess } from 'node:child_process';
import { TEST_TOKEN, uniq, waitFor } from './env.js';
import { freePort } from './net.js';

export type Role = 'api' | 'worker' | 'beat';

/** One role of the real service (`src/main.ts`) running as a child process. */
export interface RoleProcess {
  role: Role;
  name: string;
  child: ChildProcess;
  /** HTTP port (api only). */
  port: number;
  url: string;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
  /** Pino log lines (JSON) printed so far. */
  logs(): Array<Record<string, unknown>>;
  /** Until the role said it is up ('listening' / 'workers started' / 'job schedulers declared'). */
  ready(timeoutMs?: number): Promise<void>;
  /** POST /rpc with the service token (api only); never throws on HTTP errors. */
  rpc(method: string, body?: Record<string, unknown>, timeoutMs?: number): Promise<{ status: number; body: any }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const READY_MSG: Record<Role, string> = { api: 'listening', worker: 'workers started', beat: 'job schedulers declared' };

/**
 * Starts `node --import tsx src/main.ts` with CONTAINER_TYPE=role and `env` (the test decides Redis,
 * Firestore, queues). Only PATH and the given env are passed: no developer settings leak in.
 */
export async function spawnRole(role: Role, env: Record<string, string>, name = uniq(role), o: { port?: number; workerLockMs?: number } = {}): Promise<RoleProcess> {
  const port = role === 'api' ? (o.port ?? (await freePort())) : 0;
  const full = {
    METADATA_SERVER_DETECTION: 'none',
    LISTENERS_SERVICE_TOKEN: TEST_TOKEN,
    FIREBASE_PROJECT_ID: 'demo-test',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: String(port),
    SHUTDOWN_GRACE_MS: '5000',
    INSTANCE_ID: name,
    ...env,
    CONTAINER_TYPE: role,
  };
  // A worker with a short job lock (so a SIGKILLed worker's jobs come back in seconds, not the
  // production 30 s) runs test/helpers/workers-child.ts: the same config, core and BullMQ workers.
  const child =
    role === 'worker' && o.workerLockMs !== undefined
      ? spawn(process.execPath, ['--import', 'tsx', 'test/helpers/workers-child.ts'], {
          env: { PATH: process.env.PATH ?? '', FIRESTORE_EMULATOR_HOST: env.FIRESTORE_EMULATOR_HOST ?? '', WORKERS_CHILD_ENV: JSON.stringify(full), WORKERS_CHILD_LOCK_MS: String(o.workerLockMs), WORKERS_CHILD_QUIET: '1' },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
      : spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { PATH: process.env.PATH ?? '', ...full }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let parsedUpTo = 0;
  const parsed: Array<Record<string, unknown>> = [];
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let gone = false;
  void exited.then(() => (gone = true));
  const logs = () => {
    const end = out.lastIndexOf('\n') + 1;
    if (end > parsedUpTo) {
      for (const line of out.slice(parsedUpTo, end).split('\n')) {
        if (!line.trim()) continue;
        try {
          parsed.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          parsed.push({ msg: line });
        }
      }
      parsedUpTo = end;
    }
    return parsed;
  };
  const url = `http://127.0.0.1:${port}`;
  return {
    role,
    name,
    child,
    port,
    url,
    exited,
    stdout: () => out,
    stderr: () => err,
    logs,
    async ready(timeoutMs = 30000) {
      await waitFor(
        () => {
          if (gone) throw new Error(`${role} ${name} exited before it was ready: ${err.slice(-2000)} ${out.slice(-2000)}`);
          return logs().some((l) => l.msg === READY_MSG[role] || (role === 'worker' && l.msg === 'ready'));
        },
        timeoutMs,
        `${role} ${name} ready`,
      );
    },
    async rpc(method, body = {}, timeoutMs = 15000) {
      const res = await fetch(`${url}/rpc`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ api_version: 'v1', method, idempotency_key: uniq('k'), ...body }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      let parsedBody: unknown;
      try {
        parsedBody = JSON.parse(text);
      } catch {
        parsedBody = text;
      }
      return { status: res.status, body: parsedBody };
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (gone) return;
      child.kill(signal);
      await exited;
    },
  };
}

/** Fatal signs in a role's output: an uncaught error, an unhandled rejection, a crash-triggered shutdown. */
export function crashSigns(p: RoleProcess): string[] {
  const text = `${p.stdout()}\n${p.stderr()}`;
  return ['fatal error; shutting down', 'Unhandled', 'uncaughtException', 'unhandledRejection', 'fatal:', 'Node.js v'].filter((s) => text.includes(s));
}
