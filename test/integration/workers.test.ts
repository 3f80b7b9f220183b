import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/buildApi.js';
import { keys } from '../../src/shared/keys.js';
import { makeEvent } from '../../src/shared/events.js';
import { mountDashboard } from '../../src/api/dashboard.js';
import { startWorkers } from '../../src/workers/index.js';
import { collectChannel, startFirestore, TEST_TOKEN, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { docs, expectNonDecreasing, progressGates, startFakeLlm, taskEvents, terminalOf, type FakeLlm } from '../helpers/workers.js';

let fs: FirestoreEmulator;
let llm: FakeLlm;
let svc: TestService; // LLM configured (local fake server)
let bare: TestService; // no LLM endpoint
const { gates, gate, onProgress } = progressGates();

beforeAll(async () => {
  fs = await startFirestore();
  llm = await startFakeLlm();
  svc = await startTestService({ env: { QUEUE_PREFIX: uniq('q'), LLM_BASE_URL: llm.baseUrl, LLM_API_KEY: 'sk-test', LLM_MODEL: 'test-model' }, core: { tasks: true } });
  bare = await startTestService({ env: { QUEUE_PREFIX: uniq('q') }, core: { tasks: true } });
  for (const s of [svc, bare]) {
    await startWorkers({ core: s.core }, { cancelPollMs: 50, onProgress, concurrency: 2 });
  }
});
afterAll(async () => {
  await svc?.close();
  await bare?.close();
  await llm?.close();
  fs?.stop();
});

const userChannel = (uid: string) => `user:${uid}`;

/** Starts a vector task of `n` documents for a new user, its channel collected, held by a gate at its first progress hook. */
async function startGatedVectors(n: number) {
  const uid = uniq('u');
  const collection = uniq('col');
  const taskId = `embeddings_${collection}`;
  const g = gate(taskId);
  const col = await collectChannel([userChannel(uid)]);
  await svc.rpc('TASK.start_vector_computation', { args: [uid, docs(n), collection] });
  await g.reached.promise;
  const release = () => {
    gates.delete(taskId);
    g.release.resolve();
  };
  return { uid, collection, taskId, col, release };
}

describe('TASK.* through real BullMQ workers', () => {
  it('document analysis: RPC start → ordered events through completed, same task_id, result and status', async () => {
    const uid = uniq('u');
    const col = await collectChannel([userChannel(uid)]);
    const jobId = uniq('job');
    const content = readFileSync(new URL('../fixtures/workers/invoice-fr.txt', import.meta.url), 'utf8');
    const r = await svc.rpc('TASK.start_document_analysis', { args: [uid, { content, file_name: 'f.txt' }, jobId] });
    expect(r.body.ok).toBe(true);
    const taskId = r.body.data.task_id;
    expect(taskId).toBe(`doc_analysis_${jobId}`);
    expect(r.body.data).toMatchObject({ success: true, status: 'queued', job_id: jobId, queue_job_id: taskId, celery_task_id: taskId });

    await col.next((m) => (m.payload as any)?.task_id === taskId && (m.payload as any).status === 'completed');
    const ev = taskEvents(col.messages, taskId);
    expect(ev.map((e) => e.status)).toEqual(['queued', 'started', 'processing', 'processing', 'completed']);
    expect(ev.every((e) => e.task_id === taskId)).toBe(true);
    expect(expectNonDecreasing(ev.map((e) => e.progress))).toBe(true);
    expect(ev.at(-1)!.progress).toBe(100);
    expect(ev.map((e) => e.data.step)).toEqual(['queued', 'started', 'reading', 'extracted', 'completed']);
    const result = ev.at(-1)!.data.result;
    expect(result.total).toMatchObject({ amount: 1481.47, currency: 'EUR' });
    expect(result.invoice_number.value).toBe('FA-2024-0042');

    const st = await svc.rpc('TASK.get_task_status', { args: [taskId] });
    expect(st.body.data).toMatchObject({ success: true, task_id: taskId, status: 'completed', progress: { progress_percent: 100 } });
    expect(st.body.data.result.total.amount).toBe(1481.47);
    expect(st.body.data.isolation).toMatchObject({ namespace: `${uid}_default`, max_duration: 600 });
    const list = await svc.rpc('TASK.list_user_tasks', { args: [uid, 'completed'] });
    expect(list.body.data.map((t: any) => t.task_id)).toEqual([taskId]);
    const none = await svc.rpc('TASK.list_user_tasks', { args: [uid, 'failed'] });
    expect(none.body.data).toEqual([]);
    const missing = await svc.rpc('TASK.get_task_status', { args: ['doc_analysis_nope'] });
    expect(missing.body.error.code).toBe('NOT_FOUND');
    await col.close();
  });

  it('invalid input fails once, without retry, and says why', async () => {
    const uid = uniq('u');
    const col = await collectChannel([userChannel(uid)]);
    // The RPC validates with the worker's schema, so such input never reaches a queue through it…
    const refused = await svc.rpc('TASK.start_document_analysis', { kwargs: { user_id: uid, document_data: { content: '   ' }, job_id: uniq('job') } });
    expect(refused.body).toMatchObject({ ok: false, error: { code: 'INVALID_ARGS' } });
    expect(refused.body.error.message).toMatch(/document_data\.content is empty/);
    const missing = await svc.rpc('TASK.start_document_analysis', { kwargs: { user_id: uid, document_data: { file_name: 'f.txt' }, job_id: uniq('job') } });
    expect(missing.body).toMatchObject({ ok: false, error: { code: 'INVALID_ARGS' } });
    expect(missing.body.error.message).toMatch(/document_data\.content is required/);
    // …but a job enqueued by a caller of the task service (or left from an older release) still is checked by the worker.
    const r = await svc.core.deps.tasks!.startDocumentAnalysis({ user_id: uid, document_data: { content: '   ' }, job_id: uniq('job') });
    const taskId = r.task_id as string;
    await col.next((m) => (m.payload as any)?.task_id === taskId && (m.payload as any).status === 'failed');
    const ev = taskEvents(col.messages, taskId);
    expect(ev.map((e) => e.status)).toEqual(['queued', 'started', 'failed']);
    expect(ev.at(-1)!.data.error).toMatchObject({ code: 'INVALID_INPUT' });
    expect(ev.at(-1)!.data.error.message).toMatch(/document_data\.content is empty/);
    const st = await svc.rpc('TASK.get_task_status', { args: [taskId] });
    expect(st.body.data).toMatchObject({ status: 'failed', error: { code: 'INVALID_INPUT' } });
    // The event goes out before BullMQ records the failure (the processor throws after it): wait for that.
    const queue = svc.core.tasks!.queues.get('computation');
    await waitFor(async () => (await queue.getJob(taskId))?.finishedOn, 10000, 'the job recorded as failed');
    const job = await queue.getJob(taskId);
    expect(await job!.getState()).toBe('failed');
    expect(job?.attemptsMade).toBe(1);
    await col.close();
  });

  it('LLM without an endpoint fails with LLM_NOT_CONFIGURED and no reply', async () => {
    const uid = uniq('u');
    const col = await collectChannel([userChannel(uid)]);
    const r = await bare.rpc('TASK.start_llm_conversation', { args: [uid, 'c1', 'hello?'] });
    expect(r.body.data.task_id).toBe(`llm_${r.body.data.conversation_id}`);
    const taskId = r.body.data.task_id;
    await col.next((m) => (m.payload as any)?.task_id === taskId && (m.payload as any).status === 'failed');
    const ev = taskEvents(col.messages, taskId);
    expect(ev.map((e) => e.status)).toEqual(['queued', 'started', 'failed']);
    expect(ev.at(-1)!.data.error.code).toBe('LLM_NOT_CONFIGURED');
    expect(ev.at(-1)!.data.result).toBeUndefined();
    await col.close();
  });

  it('LLM against a local OpenAI-compatible server: reply, usage, bearer key; a 500 is retried; a 400 is not', async () => {
    const uid = uniq('u');
    const col = await collectChannel([userChannel(uid)]);
    const ok = await svc.rpc('TASK.start_llm_conversation', { kwargs: { user_id: uid, company_id: 'c1', prompt: 'bonjour', conversation_id: uniq('conv'), temperature: 0.2 } });
    const flaky = await svc.rpc('TASK.start_llm_conversation', { kwargs: { user_id: uid, company_id: 'c1', prompt: 'retry me', model: 'flaky' } });
    const refused = await svc.rpc('TASK.start_llm_conversation', { kwargs: { user_id: uid, company_id: 'c1', prompt: 'no', model: 'refuse' } });
    const ids = [ok, flaky, refused].map((r) => r.body.data.task_id as string);
    await waitFor(() => ids.every((id) => terminalOf(col.messages, id).length === 1), 20000, 'three terminal events');

    const done = terminalOf(col.messages, ids[0]!)[0]!;
    expect(done.status).toBe('completed');
    expect(done.data.result).toMatchObject({ reply: 'echo: bonjour', model: 'test-model', usage: { total_tokens: 7 }, finish_reason: 'stop' });
    const req = llm.requests.find((q) => q.body.messages[0].content === 'bonjour')!;
    expect(req.auth).toBe('Bearer sk-test');
    expect(req.body).toMatchObject({ model: 'test-model', temperature: 0.2 });

    const fl = taskEvents(col.messages, ids[1]!);
    expect(fl.map((e) => e.status)).toEqual(['queued', 'started', 'processing', 'processing', 'started', 'processing', 'processing', 'completed']);
    expect(fl[3]!.data).toMatchObject({ step: 'retry_scheduled', attempt: 1, error: { code: 'LLM_UNAVAILABLE' } });
    expect(fl.at(-1)!.data.result.reply).toBe('echo: retry me');
    expect(expectNonDecreasing(fl.map((e) => e.progress))).toBe(true);

    const rf = taskEvents(col.messages, ids[2]!);
    expect(rf.filter((e) => e.status === 'started')).toHaveLength(1);
    expect(rf.at(-1)!.data.error).toMatchObject({ code: 'LLM_REJECTED', message: expect.stringContaining('model refuses') });
    await col.close();
  });

  it('vector computation stores embeddings, answers nearest-neighbour queries, and can run again', async () => {
    const uid = uniq('u');
    const collection = uniq('col');
    const col = await collectChannel([userChannel(uid)]);
    const r = await svc.rpc('TASK.start_vector_computation', { args: [uid, [...docs(120), { text: '' }], collection] });
    const taskId = r.body.data.task_id;
    expect(taskId).toBe(`embeddings_${collection}`);
    await col.next((m) => (m.payload as any)?.task_id === taskId && (m.payload as any).status === 'completed');
    const ev = taskEvents(col.messages, taskId);
    expect(ev.filter((e) => e.data.step === 'embedding').map((e) => e.data.done)).toEqual([0, 50, 100, 120]);
    expect(ev.at(-1)!.data.result).toMatchObject({ embedded: 120, collection_count: 120, skipped: [{ index: 120 }] });
    expect(await svc.core.deps.redis.hlen(keys.vectors('default', collection))).toBe(120);

    const q = await svc.rpc('TASK.query_vectors', { args: [collection, 'overdue invoice payment'], kwargs: { top_k: 5 } });
    expect(q.headers['idempotent-replay']).toBeUndefined();
    const hits = q.body.data as Array<Record<string, unknown>>;
    expect(hits).toHaveLength(5);
    expect(hits.every((h) => String(h.preview).startsWith('invoice payment overdue'))).toBe(true);

    const again = await svc.rpc('TASK.start_vector_computation', { args: [uid, docs(3, 'new'), collection] });
    expect(again.body.ok).toBe(true);
    await waitFor(() => terminalOf(col.messages, taskId).length === 2, 15000, 'second run completes');
    expect(await svc.core.deps.redis.hlen(keys.vectors('default', collection))).toBe(123);
    await col.close();
  });

  it('cancel stops a running task: one cancelled event, the processor stops, a restart while running is refused', async () => {
    // The worker is inside the task, after its first progress step.
    const { uid, collection, taskId, col, release } = await startGatedVectors(500);

    const dup = await svc.rpc('TASK.start_vector_computation', { args: [uid, docs(2), collection] });
    expect(dup.body.error.code).toBe('CONFLICT');
    const c = await svc.rpc('TASK.cancel_task', { args: [taskId] });
    expect(c.body.data).toMatchObject({ success: true, status: 'cancelled', previous_status: 'processing' });
    release();

    const job = await svc.core.tasks!.queues.get('computation').getJob(taskId);
    await waitFor(async () => (await job!.getState()) === 'failed', 10000, 'job ended');
    const finished = await svc.core.tasks!.queues.get('computation').getJob(taskId);
    expect(finished!.failedReason).toMatch(/CANCELLED/);
    expect(await svc.core.deps.redis.hlen(keys.vectors('default', collection))).toBeLessThan(500);
    const ev = taskEvents(col.messages, taskId);
    expect(terminalOf(col.messages, taskId).map((e) => e.status)).toEqual(['cancelled']);
    expect(ev.at(-1)!.status).toBe('cancelled');
    expect((await svc.rpc('TASK.get_task_status', { args: [taskId] })).body.data.status).toBe('cancelled');
    const again = await svc.rpc('TASK.cancel_task', { args: [taskId] });
    expect(again.body.data).toMatchObject({ success: false, status: 'cancelled' });
    await col.close();
  });

  it('progress reports are pipelined one deep: the work after a report goes on while it is answered, the next report waits for it', async () => {
    // The first report (5 %) is answered and its hook holds it.
    const { collection, taskId, col, release } = await startGatedVectors(150);
    // The first batch was stored and the second report sent while the first one is still held;
    // the processor stops at that second report (it waits for the first), so no third batch.
    await waitFor(async () => (await svc.rpc('TASK.get_task_status', { args: [taskId] })).body.data.progress.progress_percent === 35, 10000, 'second report recorded');
    expect(await svc.core.deps.redis.hlen(keys.vectors('default', collection))).toBe(50);
    release();
    await waitFor(() => terminalOf(col.messages, taskId).length === 1, 10000, 'task completes');
    const ev = taskEvents(col.messages, taskId);
    expect(ev.map((e) => [e.status, e.progress])).toEqual([['queued', 0], ['started', 0], ['processing', 5], ['processing', 35], ['processing', 65], ['processing', 95], ['completed', 100]]);
    expect(await svc.core.deps.redis.hlen(keys.vectors('default', collection))).toBe(150);
    await col.close();
  });

  it('cancel of a queued task removes its job', async () => {
    const uid = uniq('u');
    const collection = uniq('col');
    // The llm queue is consumed; pause the computation queue locally so the job stays queued.
    const q = svc.core.tasks!.queues.get('computation');
    await q.pause();
    try {
      const r = await svc.rpc('TASK.start_vector_computation', { args: [uid, docs(2), collection] });
      const c = await svc.rpc('TASK.cancel_task', { args: [r.body.data.task_id] });
      expect(c.body.data).toMatchObject({ success: true, status: 'cancelled', previous_status: 'queued', removed_from_queue: true });
      expect(await q.getJob(r.body.data.task_id)).toBeUndefined();
    } finally {
      await q.resume();
    }
  });
});

describe('a worker killed between the terminal registry update and its event', () => {
  it('the retry publishes the missing terminal event from the registry, and never a second one', async () => {
    const uid = uniq('u');
    const collection = uniq('col');
    const taskId = `embeddings_${collection}`;
    const col = await collectChannel([userChannel(uid)]);
    const { taskRegistry } = svc.core.deps;
    // The state such a crash leaves: the registry says completed, no terminal event was published,
    // and BullMQ still holds the job (it is handed to another worker as stalled).
    await taskRegistry.registerTask({ taskId, taskType: 'vector_computation', userId: uid, companyId: 'default', priority: 'normal', maxDuration: 600 });
    expect(await taskRegistry.updateTaskProgress({ taskId, status: 'completed', progressPercent: 100, currentStep: 'completed', result: { stored: 3 } })).toBe('updated');
    const q = svc.core.tasks!.queues.get('computation');
    const data = { task_id: taskId, user_id: uid, company_id: 'default', max_duration: 600, payload: { documents: docs(1), collection_name: collection } };
    await q.add('vector_computation', data, { jobId: `${taskId}-retry-1` });
    const first = await col.next((m) => (m.payload as any)?.task_id === taskId && (m.payload as any).status === 'completed');
    expect((first.payload as any).data).toMatchObject({ recovered: true, result: { stored: 3 } });
    expect((first.payload as any).progress).toBe(100);
    // A second recovery of the same run (another stalled copy) finds the event published: nothing more.
    const job2 = await q.add('vector_computation', data, { jobId: `${taskId}-retry-2` });
    await waitFor(async () => ['completed', 'failed'].includes(await job2.getState()), 10000, 'second recovery handled');
    const marker = makeEvent('task.progress_update', uid, { task_id: 'marker', status: 'queued', progress: 0, data: {} });
    await svc.core.deps.publisher.publishUser(marker);
    await col.next((m) => m.event_id === marker.event_id);
    expect(terminalOf(col.messages, taskId)).toHaveLength(1);
    await col.close();
  });
});

describe('queue dashboard', () => {
  it('is behind the service token (bearer, or ?token= once then an HttpOnly cookie)', async () => {
    const app = buildApi(svc.core.deps);
    await mountDashboard(app, svc.core.tasks!.queues.all(), TEST_TOKEN);
    await app.ready();
    try {
      expect((await app.inject({ url: '/admin/queues' })).statusCode).toBe(401);
      expect((await app.inject({ url: '/admin/queues', headers: { authorization: 'Bearer nope' } })).statusCode).toBe(403);
      expect((await app.inject({ url: '/admin/queues?token=nope' })).statusCode).toBe(403);
      const api = await app.inject({ url: '/admin/queues/api/queues', headers: { authorization: `Bearer ${TEST_TOKEN}` } });
      expect(api.statusCode).toBe(200);
      expect(api.json().queues.map((x: any) => x.name).sort()).toEqual(['computation', 'default', 'llm', 'maintenance']);
      const login = await app.inject({ url: `/admin/queues?token=${TEST_TOKEN}` });
      expect(login.statusCode).toBe(303);
      expect(login.headers.location).toBe('/admin/queues');
      const cookie = String(login.headers['set-cookie']);
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).not.toContain(TEST_TOKEN);
      const page = await app.inject({ url: '/admin/queues', headers: { cookie: cookie.split(';')[0]! } });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toMatch(/html/);
    } finally {
      await app.close();
    }
  });
});
