import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/shared/keys.js';
import { startWorkers, type WorkersHandle } from '../../src/workers/index.js';
import { collectChannel, startFirestore, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { childEnv, docs, expectNonDecreasing, spawnWorkerChild, taskEvents, terminalOf, type WorkerChild } from '../helpers/workers.js';

let fs: FirestoreEmulator;
let svc: TestService;
const prefix = uniq('q');
const children: WorkerChild[] = [];

beforeAll(async () => {
  fs = await startFirestore();
  svc = await startTestService({ env: { QUEUE_PREFIX: prefix }, core: { tasks: true } }); // enqueue side only
});
afterAll(async () => {
  for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
  await svc?.close();
  fs?.stop();
});

const env = () => childEnv({ QUEUE_PREFIX: prefix, INSTANCE_ID: uniq('child'), WORKER_QUEUES: 'computation' });

describe('worker crash and drain (child processes)', () => {
  it('a job whose worker is SIGKILLed mid-task is taken back and completed by another worker', async () => {
    const uid = uniq('u');
    const collection = uniq('col');
    const col = await collectChannel([`user:${uid}`]);
    // The child stops at its first progress step (its gate never opens) while holding the job.
    const child = await spawnWorkerChild(env(), { gateKey: uniq('never'), lockMs: 1000 });
    children.push(child);
    const r = await svc.rpc('TASK.start_vector_computation', { args: [uid, docs(160), collection] });
    const taskId = r.body.data.task_id;
    await child.waitLine((l) => l.includes(taskId));
    expect(taskEvents(col.messages, taskId).map((e) => e.status)).toContain('started');

    child.proc.kill('SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');
    const job = await svc.core.tasks!.queues.get('computation').getJob(taskId);
    expect(await job!.getState()).toBe('active'); // still locked by the dead worker

    let rescuer: WorkersHandle | undefined;
    try {
      rescuer = await startWorkers({ core: svc.core }, { queues: ['computation'], stalledIntervalMs: 300, lockDurationMs: 5000 });
      await col.next((m) => (m.payload as any)?.task_id === taskId && ['completed', 'failed'].includes((m.payload as any).status), 20000);
    } finally {
      await rescuer?.close();
    }
    const ev = taskEvents(col.messages, taskId);
    expect(terminalOf(col.messages, taskId).map((e) => e.status)).toEqual(['completed']);
    expect(ev.filter((e) => e.status === 'started')).toHaveLength(2); // one per worker
    expect(expectNonDecreasing(ev.map((e) => e.progress))).toBe(true);
    expect(ev.at(-1)!.data.result).toMatchObject({ embedded: 160 });
    expect(await svc.core.deps.redis.hlen(keys.vectors('default', collection))).toBe(160);
    expect(await svc.core.deps.metrics.value('tasks_stalled_total')).toBeGreaterThanOrEqual(1);
    await col.close();
  });

  it('SIGTERM drains: the worker finishes its active job, then exits 0', async () => {
    const uid = uniq('u');
    const collection = uniq('col');
    const gate = uniq('gate');
    const col = await collectChannel([`user:${uid}`]);
    const child = await spawnWorkerChild(env(), { gateKey: gate, lockMs: 5000 });
    children.push(child);
    const r = await svc.rpc('TASK.start_vector_computation', { args: [uid, docs(120), collection] });
    const taskId = r.body.data.task_id;
    await child.waitLine((l) => l.includes(taskId));

    child.proc.kill('SIGTERM');
    await child.waitLine((l) => l === 'draining');
    expect(child.proc.exitCode).toBeNull(); // still running: the job holds the drain
    expect((await svc.core.deps.taskRegistry.getTaskRegistry(taskId))!.task_info.status).toBe('processing');

    await svc.core.deps.redis.set(gate, '1', 'EX', 60); // let the job go on
    const exit = await child.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    // The job completed before the process exited.
    expect((await svc.core.deps.taskRegistry.getTaskRegistry(taskId))!.task_info.status).toBe('completed');
    await waitFor(() => terminalOf(col.messages, taskId).length === 1, 5000, 'completed event');
    expect(terminalOf(col.messages, taskId)[0]!.status).toBe('completed');
    expect(await svc.core.deps.redis.hlen(keys.vectors('default', collection))).toBe(120);
    await col.close();
  });
});
