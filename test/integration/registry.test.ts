import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { Timestamp } from 'firebase-admin/firestore';
import { StaticFlags, UNIFIED_REGISTRY_FLAG } from '../../src/flags/flags.js';
import { MASTER_SWITCH_OVERRIDE_KEY } from '../../src/flags/registryMode.js';
import { createLogger } from '../../src/shared/logger.js';
import { testRedis, uniq, waitFor } from '../helpers/env.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { useStack } from '../helpers/stack.js';
import type { RedisHandle } from '../../src/shared/redis.js';

const flags = new StaticFlags();
let svc: TestService;
let redis: RedisHandle;

// Master switch on; the per-user flag decides (as Unleash would).
useStack({ env: { UNIFIED_REGISTRY_ENABLED: 'true' }, flags }, async (s) => {
  svc = s.svc;
  redis = await testRedis();
});
afterAll(async () => {
  await redis?.close();
});

const presence = (uid: string) => svc.core.firebase.firestore.collection('listeners_registry').doc(uid).get();

/** Replaces every value by its type so two documents can be compared by shape. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).sort().map(([k, x]) => [k, shape(x)]));
  return v === null ? 'null' : typeof v;
}

async function exercise(mode: 'unified' | 'legacy') {
  const uid = uniq(`u${mode}`);
  const sid = uniq('s');
  const cid = uniq('c');
  flags.set(UNIFIED_REGISTRY_FLAG, mode === 'unified');
  const results: Record<string, unknown> = {};
  results.register_user = (await svc.rpc('REGISTRY.register_user', { args: [uid, sid, 'route-1'] })).body;
  results.heartbeat = (await svc.rpc('REGISTRY.heartbeat', { args: [uid, sid] })).body;
  results.register_user_session = (await svc.rpc('UNIFIED_REGISTRY.register_user_session', { args: [uid, sid, cid, [cid, 'other']] })).body;
  results.update_user_heartbeat = (await svc.rpc('UNIFIED_REGISTRY.update_user_heartbeat', { args: [uid] })).body;
  results.update_user_service = (await svc.rpc('UNIFIED_REGISTRY.update_user_service', { args: [uid, 'llm', { model_preferences: { default: 'x' } }] })).body;
  results.get_user_registry = (await svc.rpc('UNIFIED_REGISTRY.get_user_registry', { args: [uid] })).body;
  results.get_company_active_users = (await svc.rpc('UNIFIED_REGISTRY.get_company_active_users', { args: [cid], user_id: uid })).body;
  results.unregister_session = (await svc.rpc('REGISTRY.unregister_session', { args: [sid] })).body;
  results.unregister_again = (await svc.rpc('REGISTRY.unregister_session', { args: [sid] })).body;
  results.after = (await svc.rpc('UNIFIED_REGISTRY.get_user_registry', { args: [uid] })).body;
  return { uid, cid, results };
}

describe('registry modes', () => {
  it('unified and legacy give the same response shapes, and both keep Firestore presence right', async () => {
    const u = await exercise('unified');
    const l = await exercise('legacy');
    for (const key of Object.keys(u.results)) {
      expect(shape(l.results[key]), key).toEqual(shape(u.results[key]));
    }
    for (const run of [u, l]) {
      const r = run.results as Record<string, any>;
      expect(r.register_user.data).toMatchObject({ user_id: run.uid, backend_route: 'route-1' });
      expect(r.get_user_registry.data.companies).toMatchObject({ current_company_id: run.cid, authorized_companies_ids: [run.cid, 'other'] });
      expect(r.get_user_registry.data.services.llm).toMatchObject({ model_preferences: { default: 'x' }, active_conversations: [] });
      expect(r.get_company_active_users.data).toEqual([run.uid]);
      expect(r.unregister_session.data).toBe(true);
      expect(r.unregister_again.data).toBe(false);
      expect(r.after.data.user_info.status).toBe('offline');
      const snap = await presence(run.uid);
      expect(snap.get('heartbeat_at')).toBeInstanceOf(Timestamp);
      expect(snap.get('status')).toBe('offline');
    }
    // The unified run wrote Redis; the legacy run did not.
    expect(await redis.client.exists(`registry:unified:${u.uid}`)).toBe(1);
    expect(await redis.client.exists(`registry:unified:${l.uid}`)).toBe(0);
  });

  it.each(['unified', 'legacy'] as const)('%s: a task is listed as active on the user document, then moves to its history', async (mode) => {
    flags.set(UNIFIED_REGISTRY_FLAG, mode === 'unified');
    const uid = uniq('tasks');
    const tid = uniq('task');
    await svc.rpc('REGISTRY.register_user', { args: [uid, uniq('s')] });
    await svc.rpc('UNIFIED_REGISTRY.register_task', { args: [tid, 'demo', uid, 'c1'] });
    let tasks = (await svc.rpc('UNIFIED_REGISTRY.get_user_registry', { args: [uid] })).body.data.services.tasks;
    expect(tasks).toMatchObject({ active_tasks: [tid], task_history: [] });
    expect((await svc.rpc('UNIFIED_REGISTRY.update_task_progress', { args: [tid, 'completed'] })).body.data).toBe(true);
    tasks = (await svc.rpc('UNIFIED_REGISTRY.get_user_registry', { args: [uid] })).body.data.services.tasks;
    expect(tasks).toMatchObject({ active_tasks: [], task_history: [tid] });
  });

  it('a flag flip mid-run switches the mode of the next call, without restart', async () => {
    const uid = uniq('flip');
    flags.set(UNIFIED_REGISTRY_FLAG, false);
    await svc.rpc('REGISTRY.register_user', { args: [uid, uniq('s')] });
    expect(await redis.client.exists(`registry:unified:${uid}`)).toBe(0);
    flags.set(UNIFIED_REGISTRY_FLAG, (ctx) => ctx.userId === uid);
    await svc.rpc('REGISTRY.heartbeat', { args: [uid] });
    expect(await redis.client.exists(`registry:unified:${uid}`)).toBe(1);
  });

  it('the runtime master-switch override turns every user legacy at once, and DEL restores the env value', async () => {
    flags.set(UNIFIED_REGISTRY_FLAG, true);
    const uid = uniq('override');
    await redis.client.set(MASTER_SWITCH_OVERRIDE_KEY, 'false');
    try {
      await waitFor(() => !svc.core.deps.decider.masterSwitch(), 5000, 'override seen');
      await svc.rpc('REGISTRY.register_user', { args: [uid, uniq('s')] });
      expect(await redis.client.exists(`registry:unified:${uid}`)).toBe(0);
      expect((await svc.app.inject({ url: '/healthz' })).json().registry_mode).toBe('legacy');
    } finally {
      await redis.client.del(MASTER_SWITCH_OVERRIDE_KEY);
    }
    await waitFor(() => svc.core.deps.decider.masterSwitch(), 5000, 'override removed');
    await svc.rpc('REGISTRY.heartbeat', { args: [uid] });
    expect(await redis.client.exists(`registry:unified:${uid}`)).toBe(1);
  });

  it('a session registered before a flip can still be unregistered after it', async () => {
    const uid = uniq('u');
    const sid = uniq('s');
    flags.set(UNIFIED_REGISTRY_FLAG, false);
    await svc.rpc('REGISTRY.register_user', { args: [uid, sid] });
    flags.set(UNIFIED_REGISTRY_FLAG, true);
    expect((await svc.rpc('REGISTRY.unregister_session', { args: [sid] })).body.data).toBe(true);
  });
});

describe('unified store guarantees', () => {
  it('concurrent update_user_service calls lose no update', async () => {
    flags.set(UNIFIED_REGISTRY_FLAG, true);
    const uid = uniq('conc');
    await svc.rpc('REGISTRY.register_user', { args: [uid, uniq('s')] });
    const n = 40;
    await Promise.all(
      Array.from({ length: n }, (_, i) => svc.rpc('UNIFIED_REGISTRY.update_user_service', { args: [uid, 'chroma', { [`field_${i}`]: i }] })),
    );
    const doc = (await svc.rpc('UNIFIED_REGISTRY.get_user_registry', { args: [uid] })).body.data;
    for (let i = 0; i < n; i++) expect(doc.services.chroma[`field_${i}`]).toBe(i);
    expect(doc.services.chroma.collections).toEqual([]);
  });

  it('concurrent update_user_service calls lose no update in legacy mode either', async () => {
    flags.set(UNIFIED_REGISTRY_FLAG, false);
    const uid = uniq('conc');
    await svc.rpc('REGISTRY.register_user', { args: [uid, uniq('s')] });
    const n = 8;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => svc.rpc('UNIFIED_REGISTRY.update_user_service', { args: [uid, 'chroma', { [`f${i}`]: i }], timeout_ms: 30000 })),
    );
    expect(results.map((r) => r.body.ok)).toEqual(Array(n).fill(true));
    const doc = (await svc.rpc('UNIFIED_REGISTRY.get_user_registry', { args: [uid] })).body.data;
    for (let i = 0; i < n; i++) expect(doc.services.chroma[`f${i}`]).toBe(i);
  });

  it('unregister_session issues no SCAN or KEYS (INFO commandstats)', async () => {
    flags.set(UNIFIED_REGISTRY_FLAG, true);
    const uid = uniq('scan');
    const sid = uniq('s');
    await svc.rpc('UNIFIED_REGISTRY.register_user_session', { args: [uid, sid, uniq('c')] });
    await redis.client.config('RESETSTAT');
    const r = await svc.rpc('REGISTRY.unregister_session', { args: [sid] });
    expect(r.body.data).toBe(true);
    const stats = await redis.client.info('commandstats');
    expect(stats).toMatch(/cmdstat_(get|del|evalsha|eval)/);
    expect(stats).not.toMatch(/cmdstat_(scan|keys):/);
  });

  it('every unified key has a TTL (user 24 h, task max_duration + 300 s)', async () => {
    flags.set(UNIFIED_REGISTRY_FLAG, true);
    const uid = uniq('ttl');
    const sid = uniq('s');
    const cid = uniq('c');
    const tid = uniq('task');
    await svc.rpc('UNIFIED_REGISTRY.register_user_session', { args: [uid, sid, cid] });
    await svc.rpc('UNIFIED_REGISTRY.update_user_service', { args: [uid, 'llm', { a: 1 }] });
    await svc.rpc('UNIFIED_REGISTRY.register_task', { args: [tid, 'demo', uid, cid], kwargs: { max_duration: 600 } });
    const keys = [
      `registry:unified:${uid}`,
      `registry:unified:session:${sid}`,
      `registry:unified:company:${cid}`,
      `registry:unified:task:${tid}`,
      `registry:unified:user_tasks:${uid}`,
      'registry:unified:index:active_users',
    ];
    for (const k of keys) {
      const ttl = await redis.client.ttl(k);
      expect(ttl, k).toBeGreaterThan(0);
    }
    expect(await redis.client.ttl(`registry:unified:${uid}`)).toBeGreaterThan(86000);
    const taskTtl = await redis.client.ttl(`registry:unified:task:${tid}`);
    expect(taskTtl).toBeGreaterThan(850);
    expect(taskTtl).toBeLessThanOrEqual(900);
  });

  it('task progress never decreases and the first terminal state is final', async () => {
    const uid = uniq('u');
    const tid = uniq('task');
    await svc.rpc('UNIFIED_REGISTRY.register_task', { args: [tid, 'demo', uid, 'c1'] });
    expect((await svc.rpc('UNIFIED_REGISTRY.update_task_progress', { args: [tid, 'processing', 60, 'step-a'] })).body.data).toBe(true);
    await svc.rpc('UNIFIED_REGISTRY.update_task_progress', { args: [tid, 'processing', 30, 'step-b'] });
    let doc = (await svc.rpc('UNIFIED_REGISTRY.get_task_registry', { args: [tid] })).body.data;
    expect(doc.progress).toMatchObject({ progress_percent: 60, current_step: 'step-b' });
    expect(doc.isolation).toEqual({ namespace: `${uid}_c1`, priority: 'normal', max_duration: 3600 });
    expect((await svc.rpc('UNIFIED_REGISTRY.update_task_progress', { args: [tid, 'completed'] })).body.data).toBe(true);
    expect((await svc.rpc('UNIFIED_REGISTRY.update_task_progress', { args: [tid, 'failed'] })).body.data).toBe(false);
    doc = (await svc.rpc('UNIFIED_REGISTRY.get_task_registry', { args: [tid] })).body.data;
    expect(doc.task_info.status).toBe('completed');
    expect(doc.progress.progress_percent).toBe(100);
    expect((await svc.rpc('UNIFIED_REGISTRY.update_task_progress', { args: [uniq('nope'), 'started'] })).body.data).toBe(false);
  });
});

describe('fallback', () => {
  it('when the unified Redis fails, the call is served by legacy, logged with "fallback" and counted', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const broken = await startTestService({
      env: { UNIFIED_REGISTRY_ENABLED: 'true', LISTENERS_REDIS_PORT: '1' },
      logger: createLogger({ level: 'debug', destination: sink }),
    });
    try {
      const uid = uniq('fb');
      const r = await broken.rpc('REGISTRY.register_user', { args: [uid, uniq('s')], timeout_ms: 14000 });
      expect(r.body.ok).toBe(true);
      expect(r.body.data).toMatchObject({ user_id: uid, backend_route: '' });
      expect((await presence(uid)).get('status')).toBe('online');
      expect(await broken.core.deps.metrics.value('registry_fallback_total')).toBeGreaterThanOrEqual(1);
      expect(lines.some((l) => l.includes('fallback') && l.includes('register_user'))).toBe(true);
      const h = (await broken.app.inject({ url: '/healthz' })).json();
      expect(h).toMatchObject({ status: 'degraded', redis: 'error' });
      expect((await broken.app.inject({ url: '/readyz' })).statusCode).toBe(503);
    } finally {
      await broken.close();
    }
  });
});
