import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers } from '../../src/workers/index.js';
import type { TrackedJobData } from '../../src/workers/runner.js';
import { collectChannel, startFirestore, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { taskEvents, terminalOf } from '../helpers/workers.js';

let fs: FirestoreEmulator;
let svc: TestService;
let slowLlm: Server;
let llmCalls = 0;
const pending = new Set<() => void>();

beforeAll(async () => {
  fs = await startFirestore();
  // An LLM endpoint that answers only when the test ends: the task can finish only by its time limit.
  slowLlm = createServer((req, res) => {
    llmCalls++;
    req.resume();
    pending.add(() => res.writeHead(503).end());
  });
  await new Promise<void>((r) => slowLlm.listen(0, '127.0.0.1', () => r()));
  const addr = slowLlm.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  svc = await startTestService({ env: { QUEUE_PREFIX: uniq('q'), LLM_BASE_URL: `http://127.0.0.1:${port}/v1`, LLM_TIMEOUT_MS: '60000' }, core: { tasks: true } });
  await startWorkers({ core: svc.core }, { cancelPollMs: 50 });
});
afterAll(async () => {
  for (const p of pending) p();
  await svc?.close();
  slowLlm?.closeAllConnections();
  await new Promise((r) => slowLlm?.close(r));
  fs?.stop();
});

describe('per-task time limit', () => {
  it('a task past its max_duration fails once with TIMEOUT and is not retried', async () => {
    const uid = uniq('u');
    const taskId = `llm_${uniq('conv')}`;
    const col = await collectChannel([`user:${uid}`]);
    await svc.core.deps.taskRegistry.registerTask({ taskId, taskType: 'llm_conversation', userId: uid, companyId: 'c1', priority: 'normal', maxDuration: 1 });
    const data: TrackedJobData = {
      task_id: taskId,
      user_id: uid,
      company_id: 'c1',
      max_duration: 1,
      payload: { conversation_id: taskId, company_id: 'c1', prompt: 'hello', model: null, temperature: 0.2 },
    };
    await svc.core.tasks!.queues.get('llm').add('llm_conversation', data, { jobId: taskId, attempts: 4, backoff: { type: 'exponential', delay: 50 } });
    await col.next((m) => (m.payload as any)?.task_id === taskId && (m.payload as any).status === 'failed', 20000);
    const terminal = terminalOf(col.messages, taskId);
    expect(terminal).toHaveLength(1);
    expect(terminal[0]!.data.error).toMatchObject({ code: 'TIMEOUT', message: expect.stringContaining('max_duration') });
    expect(taskEvents(col.messages, taskId).some((e) => e.data.step === 'retry_scheduled')).toBe(false);
    const status = await svc.rpc('TASK.get_task_status', { args: [taskId] });
    expect(status.body.data).toMatchObject({ status: 'failed', error: { code: 'TIMEOUT' } });
    await waitFor(async () => (await svc.core.tasks!.queues.get('llm').getJob(taskId))?.attemptsMade === 1, 5000, 'one attempt recorded');
    expect(llmCalls).toBe(1);
    await col.close();
  });
});
