/**
 * Isolation per user and company (CONTRACT §13.8) through real BullMQ workers: a task id held by
 * another user's task is never replaced (CONFLICT) nor shown, listed or cancelled (NOT_FOUND, by
 * the envelope's or the argument's user_id); vectors are stored and queried per company; a
 * cancelled event never carries less progress than what was recorded before it.
 */
import { describe, expect, it } from 'vitest';
import { keys } from '../../src/shared/keys.js';
import { startWorkers } from '../../src/workers/index.js';
import { collectChannel, uniq, waitFor } from '../helpers/env.js';
import type { TestService } from '../helpers/service.js';
import { useStack } from '../helpers/stack.js';
import { docs, progressGates, taskEvents, terminalOf } from '../helpers/workers.js';

let svc: TestService;
const { gates, gate, onProgress } = progressGates();

useStack({ env: { QUEUE_PREFIX: uniq('q') }, core: { tasks: true } }, async (s) => {
  svc = s.svc;
  // settleGraceMs bounds how long an aborted attempt waits for a processor held at a gate.
  await startWorkers({ core: svc.core }, { cancelPollMs: 50, settleGraceMs: 200, onProgress, concurrency: 4 });
});

/** An RPC made on behalf of a user: the envelope's user_id is the caller. */
const as = (uid: string | undefined, method: string, body: Record<string, unknown>) => svc.rpc(method, uid === undefined ? body : { ...body, user_id: uid });

async function finished(taskId: string): Promise<Record<string, any>> {
  return waitFor(
    async () => {
      const s = (await svc.rpc('TASK.get_task_status', { args: [taskId] })).body.data;
      return s && ['completed', 'failed', 'cancelled'].includes(s.status) ? s : undefined;
    },
    20000,
    `task ${taskId} ends`,
  );
}

/** Starts a task whose id was just freed: the previous run's job may still be finishing in BullMQ (CONFLICT "retry shortly"). */
async function startWhenFree(uid: string, args: unknown[]): Promise<Record<string, any>> {
  return waitFor(
    async () => {
      const r = await as(uid, 'TASK.start_vector_computation', { args });
      if (r.body.ok) return r.body.data;
      expect(r.body.error.message).toMatch(/retry shortly/);
      return undefined;
    },
    15000,
    'the previous job to finish',
  );
}

describe('tasks are isolated per user', () => {
  it("B re-using A's job_id, collection_name or conversation_id gets CONFLICT; A's task and result stay A's", async () => {
    const a = uniq('alice');
    const b = uniq('bob');
    const jobId = uniq('job');
    const collection = uniq('col');
    const conversation = uniq('conv');

    const da = await as(a, 'TASK.start_document_analysis', { args: [a, { content: 'Invoice 7 total 12.50 EUR', file_name: 'a.txt' }, jobId] });
    const va = await as(a, 'TASK.start_vector_computation', { args: [a, docs(20, 'a'), collection, 'acme'] });
    const la = await as(a, 'TASK.start_llm_conversation', { args: [a, 'acme', 'hello'], kwargs: { conversation_id: conversation } });
    const ids = [da.body.data.task_id, va.body.data.task_id, la.body.data.task_id] as string[];
    const before = await Promise.all(ids.map(finished));
    expect(before.map((s) => s.user_id)).toEqual([a, a, a]);

    // B, with or without an envelope user_id, after A's tasks ended: refused, nothing replaced.
    for (const caller of [b, undefined]) {
      const db = await as(caller, 'TASK.start_document_analysis', { args: [b, { content: 'other' }, jobId] });
      const vb = await as(caller, 'TASK.start_vector_computation', { args: [b, docs(3, 'b'), collection, 'acme'] });
      const lb = await as(caller, 'TASK.start_llm_conversation', { args: [b, 'acme', 'hi'], kwargs: { conversation_id: conversation } });
      expect(db.body.error).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('job_id') });
      expect(vb.body.error).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('collection_name') });
      expect(lb.body.error).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('conversation_id') });
    }
    // The registry's own method refuses too (one atomic check, whoever calls it).
    const reg = await svc.rpc('UNIFIED_REGISTRY.register_task', { args: [ids[0], 'document_analysis', b, 'acme'] });
    expect(reg.body.error.code).toBe('CONFLICT');

    const after = await Promise.all(ids.map((id) => svc.rpc('TASK.get_task_status', { args: [id] })));
    after.forEach((r, i) => {
      expect(r.body.data.user_id).toBe(a);
      expect(r.body.data.status).toBe(before[i]!.status);
      expect(r.body.data.result).toEqual(before[i]!.result);
    });
    expect(await svc.core.deps.redis.hlen(keys.vectors('acme', collection))).toBe(20);

    // A re-running A's own finished id is fine.
    await startWhenFree(a, [a, docs(2, 'a2'), collection, 'acme']);
    await waitFor(async () => (await svc.rpc('TASK.get_task_status', { args: [ids[1]] })).body.data.result?.embedded === 2, 20000, 'second run');
  });

  it("status, cancel and listing of A's task by B are NOT_FOUND (envelope or argument user_id); A's running task is untouched", async () => {
    const a = uniq('alice');
    const b = uniq('bob');
    const collection = uniq('col');
    const taskId = `embeddings_${collection}`;
    const g = gate(taskId);
    const col = await collectChannel([`user:${a}`]);
    const colB = await collectChannel([`user:${b}`]);
    try {
      await as(a, 'TASK.start_vector_computation', { args: [a, docs(400), collection] });
      await g.reached.promise; // running, held inside its first progress step

      const unknown = await svc.rpc('TASK.get_task_status', { args: [uniq('nope')] });
      const probes = [
        await as(b, 'TASK.get_task_status', { args: [taskId] }),
        await as(undefined, 'TASK.get_task_status', { args: [taskId, b] }),
        await as(a, 'TASK.get_task_status', { args: [taskId, b] }),
        await as(b, 'TASK.cancel_task', { args: [taskId] }),
        await as(undefined, 'TASK.cancel_task', { kwargs: { task_id: taskId, user_id: b } }),
        await as(b, 'TASK.list_user_tasks', { args: [a] }),
      ];
      for (const p of probes) expect(p.body.error?.code).toBe('NOT_FOUND');
      // Worded like an unknown id: another user's ids cannot be probed.
      expect(probes[0]!.body.error.message).toBe(`task ${taskId} not found`);
      expect(unknown.body.error.message).toMatch(/not found/);
      expect((await as(b, 'UNIFIED_REGISTRY.get_task_registry', { args: [taskId] })).body.data).toBeNull();
      expect((await as(b, 'UNIFIED_REGISTRY.update_task_progress', { args: [taskId, 'failed'] })).body.data).toBe(false);

      const bList = await as(b, 'TASK.list_user_tasks', { args: [b] });
      expect(bList.body.data).toEqual([]);
      const mine = await as(a, 'TASK.get_task_status', { args: [taskId, a] });
      expect(mine.body.data).toMatchObject({ user_id: a, status: 'processing' });
      expect((await as(a, 'TASK.list_user_tasks', { args: [a] })).body.data.map((t: { task_id: string }) => t.task_id)).toEqual([taskId]);
      expect((await svc.rpc('TASK.get_task_status', { args: [taskId] })).body.data.user_id).toBe(a); // trusted backend call

      gates.delete(taskId);
      g.release.resolve();
      const end = await finished(taskId);
      expect(end.status).toBe('completed'); // B's cancels did nothing
      await col.next((m) => (m.payload as { task_id?: string; status?: string }).task_id === taskId && (m.payload as { status?: string }).status === 'completed');
      expect(terminalOf(col.messages, taskId).map((e) => e.status)).toEqual(['completed']);
      expect(colB.messages).toEqual([]); // nothing of A's went to B's channel

      // A's own cancel of a finished task answers normally.
      expect((await as(a, 'TASK.cancel_task', { args: [taskId] })).body.data).toMatchObject({ success: false, status: 'completed' });
    } finally {
      gates.delete(taskId);
      g.release.resolve();
      await col.close();
      await colB.close();
    }
  });

  it("an id reused by B after A's task expired is not listed for A nor shown to A", async () => {
    const a = uniq('alice');
    const b = uniq('bob');
    const collection = uniq('col');
    const taskId = `embeddings_${collection}`;
    await as(a, 'TASK.start_vector_computation', { args: [a, docs(5), collection] });
    await finished(taskId);
    await svc.core.deps.redis.del(keys.task(taskId)); // A's document expired (TTL)
    await startWhenFree(b, [b, docs(5, 'b'), collection]);
    await finished(taskId);
    expect((await as(a, 'TASK.list_user_tasks', { args: [a] })).body.data).toEqual([]);
    expect((await as(a, 'TASK.get_task_status', { args: [taskId] })).body.error.code).toBe('NOT_FOUND');
    expect((await as(b, 'TASK.list_user_tasks', { args: [b] })).body.data.map((t: { task_id: string }) => t.task_id)).toEqual([taskId]);
  });
});

describe('vectors are stored and queried per company', () => {
  it('two companies with the same collection name never read or overwrite each other', async () => {
    const a = uniq('alice');
    const b = uniq('bob');
    const collection = uniq('col');
    const taskId = `embeddings_${collection}`;
    const invoices = Array.from({ length: 30 }, (_, i) => ({ id: `inv${i}`, text: `invoice payment overdue reminder ${i}`, metadata: { owner: 'c1' } }));
    const cats = Array.from({ length: 12 }, (_, i) => ({ id: `inv${i}`, text: `cat sleeping on a warm windowsill ${i}`, metadata: { owner: 'c2' } }));

    await as(a, 'TASK.start_vector_computation', { args: [a, invoices, collection, 'c1'] });
    expect((await finished(taskId)).result).toMatchObject({ embedded: 30, collection_count: 30, company_id: 'c1' });
    await svc.core.deps.redis.del(keys.task(taskId)); // the id becomes free (A's task expired)
    await startWhenFree(b, [b, cats, collection, 'c2']);
    expect((await finished(taskId)).result).toMatchObject({ embedded: 12, collection_count: 12, company_id: 'c2' });

    // Same doc ids in both companies: c1's vectors are untouched.
    expect(await svc.core.deps.redis.hlen(keys.vectors('c1', collection))).toBe(30);
    expect(await svc.core.deps.redis.hlen(keys.vectors('c2', collection))).toBe(12);
    const q1 = await svc.rpc('TASK.query_vectors', { args: [collection, 'cat windowsill'], kwargs: { top_k: 50, company_id: 'c1' } });
    const q2 = await svc.rpc('TASK.query_vectors', { args: [collection, 'invoice payment'], kwargs: { top_k: 50, company_id: 'c2' } });
    expect(q1.body.data).toHaveLength(30);
    expect(q1.body.data.every((h: { metadata: { owner: string }; preview: string }) => h.metadata.owner === 'c1' && h.preview.startsWith('invoice'))).toBe(true);
    expect(q2.body.data).toHaveLength(12);
    expect(q2.body.data.every((h: { metadata: { owner: string }; preview: string }) => h.metadata.owner === 'c2' && h.preview.startsWith('cat'))).toBe(true);
    // The default company has nothing of either.
    expect((await svc.rpc('TASK.query_vectors', { args: [collection, 'invoice'] })).body.data).toEqual([]);
  });
});

describe('cancel never lowers progress', () => {
  it('a worker-side cancel publishes at least the progress recorded meanwhile by someone else', async () => {
    const a = uniq('alice');
    const collection = uniq('col');
    const taskId = `embeddings_${collection}`;
    const g = gate(taskId);
    const col = await collectChannel([`user:${a}`]);
    try {
      await as(a, 'TASK.start_vector_computation', { args: [a, docs(1000), collection] });
      await g.reached.promise;
      // Another party records 80 % (UNIFIED_REGISTRY.update_task_progress, as the original's callers do).
      expect((await as(a, 'UNIFIED_REGISTRY.update_task_progress', { args: [taskId, 'processing', 80] })).body.data).toBe(true);
      // The cancel flag is seen by the worker itself (its own count of progress is still 6 %).
      await svc.core.deps.redis.set(keys.taskCancel(taskId), '1', 'EX', 600);
      // The gate stays closed until the task has ended, so the worker sees the flag while its
      // processor is held (released in finally), however fast the rest of the work would run.
      const end = await finished(taskId);
      expect(end.status).toBe('cancelled');
      const ev = taskEvents(col.messages, taskId);
      await waitFor(() => terminalOf(col.messages, taskId).length === 1, 10000, 'cancelled event');
      const cancelled = terminalOf(col.messages, taskId)[0]!;
      expect(cancelled.status).toBe('cancelled');
      expect(cancelled.progress).toBeGreaterThanOrEqual(80);
      expect(cancelled.progress).toBeGreaterThanOrEqual(Math.max(...ev.filter((e) => e.status !== 'cancelled').map((e) => e.progress)));
      expect(end.progress.progress_percent).toBe(cancelled.progress);
    } finally {
      gates.delete(taskId);
      g.release.resolve();
      await col.close();
    }
  });

  it('API cancels racing running workers: every cancelled event is at or above every progress published for its task', async () => {
    const a = uniq('alice');
    const col = await collectChannel([`user:${a}`]);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) {
        const r = await as(a, 'TASK.start_vector_computation', { args: [a, docs(1500, `d${i}`), uniq('col')] });
        ids.push(r.body.data.task_id);
      }
      // Cancel each as soon as it has published some progress, while its worker keeps publishing.
      await Promise.all(
        ids.map(async (id) => {
          await waitFor(() => taskEvents(col.messages, id).some((e) => e.status === 'processing' || e.status === 'completed'), 30000, `${id} runs`);
          await as(a, 'TASK.cancel_task', { args: [id] });
        }),
      );
      const ends = await Promise.all(ids.map(finished));
      await waitFor(() => ids.every((id) => terminalOf(col.messages, id).length === 1), 15000, 'one terminal event each');
      let cancelledCount = 0;
      for (const [i, id] of ids.entries()) {
        const ev = taskEvents(col.messages, id);
        const terminal = terminalOf(col.messages, id)[0]!;
        expect(terminal.status).toBe(ends[i]!.status);
        const maxBefore = Math.max(0, ...ev.filter((e) => !['completed', 'failed', 'cancelled'].includes(e.status)).map((e) => e.progress));
        if (terminal.status === 'cancelled') {
          cancelledCount++;
          expect(terminal.progress, id).toBeGreaterThanOrEqual(maxBefore);
          expect(ends[i]!.progress.progress_percent, id).toBe(terminal.progress);
        }
      }
      expect(cancelledCount).toBeGreaterThan(0);
    } finally {
      await col.close();
    }
  });
});
