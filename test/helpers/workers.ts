import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { TEST_TOKEN, waitFor } from './env.js';

export type Msg = Record<string, unknown>;
export const TERMINAL = ['completed', 'failed', 'cancelled'];

/** task.progress_update payloads of one task, in arrival order. */
export function taskEvents(messages: Msg[], taskId: string): Array<{ task_id: string; status: string; progress: number; data: Record<string, any> }> {
  return messages
    .filter((m) => m.type === 'task.progress_update' && (m.payload as Msg).task_id === taskId)
    .map((m) => m.payload as { task_id: string; status: string; progress: number; data: Record<string, any> });
}

export function terminalOf(messages: Msg[], taskId: string) {
  return taskEvents(messages, taskId).filter((e) => TERMINAL.includes(e.status));
}

export function expectNonDecreasing(values: number[]): boolean {
  return values.every((v, i) => i === 0 || v >= values[i - 1]!);
}

/** A promise with its resolve, for gating a job from a progress hook. */
export function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export type Gate = { reached: ReturnType<typeof deferred<void>>; release: ReturnType<typeof deferred<void>> };

/**
 * Holds a task at its next progress report: `gate(taskId)` arms one; the task's `onProgress` (pass
 * it to startWorkers) resolves `reached` and waits for `release`. `gates` is the armed set.
 */
export function progressGates(): { gates: Map<string, Gate>; gate: (taskId: string) => Gate; onProgress: (e: { taskId: string }) => Promise<void> } {
  const gates = new Map<string, Gate>();
  return {
    gates,
    gate: (taskId) => {
      const g: Gate = { reached: deferred<void>(), release: deferred<void>() };
      gates.set(taskId, g);
      return g;
    },
    onProgress: async (e) => {
      const g = gates.get(e.taskId);
      if (!g) return;
      g.reached.resolve();
      await g.release.promise;
    },
  };
}

/** Documents with enough words for the embedding to mean something. */
export function docs(n: number, prefix = 'doc'): Array<{ id: string; text: string }> {
  const topics = ['invoice payment overdue reminder', 'cat sleeping on a warm windowsill', 'quarterly revenue growth report', 'mountain hiking trail in spring'];
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, text: `${topics[i % topics.length]} number ${i}` }));
}

/** The environment a worker child process needs to build the same configuration as the test. */
export function childEnv(extra: Record<string, string>): Record<string, string> {
  return {
    LISTENERS_REDIS_HOST: inject('redisHost'),
    LISTENERS_REDIS_PORT: String(inject('redisPort')),
    LISTENERS_SERVICE_TOKEN: TEST_TOKEN,
    LOG_LEVEL: 'warn',
    FIREBASE_PROJECT_ID: 'demo-test',
    ...extra,
  };
}

export interface WorkerChild {
  proc: ChildProcess;
  lines: string[];
  waitLine(pred: (l: string) => boolean, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts test/helpers/workers-child.ts (real workers in another process) and waits until it is ready. */
export async function spawnWorkerChild(env: Record<string, string>, opts: { gateKey?: string; lockMs?: number } = {}): Promise<WorkerChild> {
  const script = fileURLToPath(new URL('./workers-child.ts', import.meta.url));
  const proc = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    env: {
      PATH: process.env.PATH ?? '',
      ...(process.env.FIRESTORE_EMULATOR_HOST ? { FIRESTORE_EMULATOR_HOST: process.env.FIRESTORE_EMULATOR_HOST } : {}),
      WORKERS_CHILD_ENV: JSON.stringify(env),
      WORKERS_CHILD_GATE: opts.gateKey ?? '',
      WORKERS_CHILD_LOCK_MS: String(opts.lockMs ?? 1000),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let buf = '';
  proc.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
  });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  const child: WorkerChild = {
    proc,
    lines,
    exited,
    waitLine: (pred, timeoutMs = 20000) =>
      waitFor(() => {
        if (proc.exitCode !== null && !lines.some(pred)) throw new Error(`worker child exited (${proc.exitCode}): ${stderr.slice(-2000)}`);
        return lines.find(pred);
      }, timeoutMs, 'worker child output'),
  };
  await child.waitLine((l) => l === 'ready', 30000);
  return child;
}

export interface FakeLlm {
  baseUrl: string;
  requests: Array<{ auth: string | undefined; body: any }>;
  close(): Promise<void>;
}

/**
 * A local OpenAI-compatible server: answers `echo: <last user message>`; model `flaky` answers 500
 * on its first call and 200 after; model `refuse` answers 400.
 */
export async function startFakeLlm(): Promise<FakeLlm> {
  const requests: FakeLlm['requests'] = [];
  const flakyCalls = new Map<string, number>();
  const server: Server = createServer((req: IncomingMessage, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}');
      requests.push({ auth: req.headers.authorization, body });
      const send = (status: number, obj: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(obj));
      };
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return send(404, { error: { message: 'not found' } });
      const prompt = String(body.messages?.at(-1)?.content ?? '');
      if (body.model === 'refuse') return send(400, { error: { message: 'model refuses this request' } });
      if (body.model === 'flaky') {
        const n = (flakyCalls.get(prompt) ?? 0) + 1;
        flakyCalls.set(prompt, n);
        if (n === 1) return send(500, { error: { message: 'upstream overloaded' } });
      }
      send(200, {
        id: 'chatcmpl-test',
        object: 'chat.completion',
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: `echo: ${prompt}` }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { baseUrl: `http://127.0.0.1:${port}/v1`, requests, close: () => new Promise((r) => server.close(() => r())) };
}
