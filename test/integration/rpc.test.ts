import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CATALOGUE } from '../../src/api/rpc/index.js';
import { defineMethod, type RpcMethod } from '../../src/api/rpc/types.js';
import { AppError } from '../../src/shared/errors.js';
import { collectChannel, startFirestore, TEST_TOKEN, uniq, type FirestoreEmulator } from '../helpers/env.js';
import { startTestService, type TestService } from '../helpers/service.js';

// Methods that exist only in this test's catalogue, to drive the paths the real ones rarely take.
const calls = new Map<string, number>();
const gates = new Map<string, () => void>();
const testMethods = [
  defineMethod({
    name: 'TEST.random',
    description: 'returns fresh random data on every run',
    args: z.object({ tag: z.string() }),
    handler: async () => ({ value: randomUUID() }),
  }),
  defineMethod({
    name: 'TEST.flaky',
    description: 'INTERNAL on the first run per tag, then succeeds',
    args: z.object({ tag: z.string(), code: z.enum(['INTERNAL', 'UNAVAILABLE', 'CONFLICT']).default('INTERNAL') }),
    handler: async (a) => {
      const n = (calls.get(a.tag) ?? 0) + 1;
      calls.set(a.tag, n);
      if (n === 1) {
        if (a.code === 'INTERNAL') throw new Error('boom with secret internals /etc/passwd');
        throw new AppError(a.code, `${a.code} on purpose`);
      }
      return { run: n };
    },
  }),
  defineMethod({
    name: 'TEST.gated',
    description: 'waits until the test opens its gate',
    args: z.object({ tag: z.string() }),
    handler: async (a) => {
      calls.set(a.tag, (calls.get(a.tag) ?? 0) + 1);
      await new Promise<void>((resolve) => gates.set(a.tag, resolve));
      return { value: randomUUID() };
    },
  }),
  defineMethod({
    name: 'TEST.hang',
    description: 'never answers',
    args: z.object({}),
    handler: () => new Promise(() => undefined),
  }),
] as unknown as RpcMethod[];

let fs: FirestoreEmulator;
let svc: TestService;
beforeAll(async () => {
  fs = await startFirestore();
  svc = await startTestService({ env: { UNIFIED_REGISTRY_ENABLED: 'true', RPC_BODY_LIMIT: '4096' }, api: { methods: [...CATALOGUE, ...testMethods] } });
});
afterAll(async () => {
  await svc?.close();
  fs?.stop();
});

const post = (payload: string | object, headers: Record<string, string> = {}) =>
  svc.app.inject({
    method: 'POST',
    url: '/rpc',
    headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json', ...headers },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });

describe('auth', () => {
  it('401 without a bearer, 403 with a wrong one, 200 with the right one', async () => {
    const none = await svc.rpc('REGISTRY.heartbeat', { args: ['u1'] }, { token: null });
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ ok: false, data: null, error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
    const wrong = await svc.rpc('REGISTRY.heartbeat', { args: ['u1'] }, { token: `${TEST_TOKEN}x` });
    expect(wrong.status).toBe(403);
    expect(wrong.body.error.code).toBe('FORBIDDEN');
    const shorter = await svc.rpc('REGISTRY.heartbeat', { args: ['u1'] }, { token: 'a' });
    expect(shorter.status).toBe(403);
    const right = await svc.rpc('REGISTRY.heartbeat', { args: [uniq('u')] });
    expect(right.status).toBe(200);
    expect(right.body.ok).toBe(true);
  });

  it('/debug needs the token and prints no secret', async () => {
    expect((await svc.app.inject({ url: '/debug' })).statusCode).toBe(401);
    const res = await svc.app.inject({ url: '/debug', headers: { authorization: `Bearer ${TEST_TOKEN}` } });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain(TEST_TOKEN);
    expect(res.json().data.dependencies[0]).toMatchObject({ name: 'redis', ok: true });
  });
});

describe('envelope and error codes', () => {
  it('400 INVALID_REQUEST for malformed JSON and for a body that is not an object', async () => {
    const bad = await post('{"api_version": "v1",');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('INVALID_REQUEST');
    expect(bad.body).not.toMatch(/at .*\.js/);
    const arr = await post('[1,2]');
    expect(arr.statusCode).toBe(400);
    expect(arr.json().error.code).toBe('INVALID_REQUEST');
    const proto = await post('{"api_version":"v1","method":"REGISTRY.heartbeat","idempotency_key":"k","__proto__":{"x":1}}');
    expect(proto.statusCode).toBe(400);
  });

  it('413 for a body over RPC_BODY_LIMIT', async () => {
    const res = await post({ api_version: 'v1', method: 'REGISTRY.heartbeat', idempotency_key: 'k', args: ['x'.repeat(5000)] });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('INVALID_REQUEST');
  });

  it('INVALID_REQUEST names the missing envelope field', async () => {
    const res = await post({ api_version: 'v1', method: 'REGISTRY.heartbeat', args: ['u'] });
    expect(res.statusCode).toBe(200);
    expect(res.json().error).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringContaining('idempotency_key') });
  });

  it('INVALID_API_VERSION', async () => {
    const r = await svc.rpc('REGISTRY.heartbeat', { api_version: 'v0', args: ['u'] });
    expect(r.body.error.code).toBe('INVALID_API_VERSION');
  });

  it('METHOD_NOT_FOUND only for names outside the catalogue (no reflection)', async () => {
    for (const m of ['REGISTRY.nope', 'REGISTRY._private', 'REGISTRY.constructor', '__proto__', 'UNIFIED_REGISTRY._redis']) {
      const r = await svc.rpc(m, { args: [] });
      expect(r.body.error.code, m).toBe('METHOD_NOT_FOUND');
    }
  });

  it('INVALID_ARGS names the argument and what was wrong', async () => {
    const missing = await svc.rpc('REGISTRY.register_user', { args: ['u1'] });
    expect(missing.body.error.code).toBe('INVALID_ARGS');
    expect(missing.body.error.message).toContain('session_id');
    const wrongType = await svc.rpc('REGISTRY.register_user', { kwargs: { user_id: 42, session_id: 's' } });
    expect(wrongType.body.error.message).toMatch(/user_id.*string/);
    const both = await svc.rpc('REGISTRY.register_user', { args: ['u1', 's1'], kwargs: { user_id: 'u1' } });
    expect(both.body.error.message).toContain('user_id: given both positionally and by keyword');
    const tooMany = await svc.rpc('REGISTRY.heartbeat', { args: ['u', 's', 'x'] });
    expect(tooMany.body.error.message).toContain('at most 2 positional');
    const unknown = await svc.rpc('REGISTRY.heartbeat', { kwargs: { user_id: 'u', colour: 'red' } });
    expect(unknown.body.error.message).toContain('colour');
    const hostile = await svc.rpc('REGISTRY.register_user', { args: ['a:b{x}/../\u0000', 's'] });
    expect(hostile.body.error).toMatchObject({ code: 'INVALID_ARGS', message: expect.stringContaining('user_id') });
    // A wrongly typed listener_type is INVALID_ARGS; an unknown type or a chat without thread_key
    // are the original's domain refusals (ok:true, success:false; see listeners.test.ts).
    for (const m of ['REGISTRY.register_listener', 'REGISTRY.check_listener_status', 'REGISTRY.unregister_listener', 'REGISTRY.update_listener_heartbeat']) {
      const typeBad = await svc.rpc(m, { args: ['u', 42] });
      expect(typeBad.body.error, m).toMatchObject({ code: 'INVALID_ARGS', message: expect.stringContaining('listener_type') });
    }
  });

  it('a user_id argument defaults to the envelope user_id', async () => {
    const uid = uniq('u');
    const r = await svc.rpc('REGISTRY.heartbeat', { user_id: uid, kwargs: {} });
    expect(r.body).toMatchObject({ ok: true, data: { user_id: uid, status: 'online' } });
  });

  it('INTERNAL hides internals; CONFLICT and UNAVAILABLE keep their codes', async () => {
    const tag = uniq('t');
    const r = await svc.rpc('TEST.flaky', { kwargs: { tag } });
    expect(r.status).toBe(200);
    expect(r.body.error.code).toBe('INTERNAL');
    expect(r.raw).not.toContain('passwd');
    const c = await svc.rpc('TEST.flaky', { kwargs: { tag: uniq('t'), code: 'CONFLICT' } });
    expect(c.body.error.code).toBe('CONFLICT');
    const u = await svc.rpc('TEST.flaky', { kwargs: { tag: uniq('t'), code: 'UNAVAILABLE' } });
    expect(u.body.error.code).toBe('UNAVAILABLE');
  });

  it('TIMEOUT after timeout_ms', async () => {
    const r = await svc.rpc('TEST.hang', { timeout_ms: 50 });
    expect(r.body.error.code).toBe('TIMEOUT');
  });

  it('NOT_FOUND for unknown routes, in the envelope', async () => {
    const res = await svc.app.inject({ url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('NOT_FOUND');
  });

  it('echoes trace_id in x-trace-id and generates one otherwise', async () => {
    const r = await svc.rpc('REGISTRY.heartbeat', { args: [uniq('u')], trace_id: 'trace-abc.1' });
    expect(r.headers['x-trace-id']).toBe('trace-abc.1');
    const g = await svc.rpc('REGISTRY.heartbeat', { args: [uniq('u')] });
    expect(String(g.headers['x-trace-id'])).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('reply_to publishes the same response plus trace_id; user channels are refused as reply_to', async () => {
    const channel = `rpc:reply:${uniq('c')}`;
    const sub = await collectChannel([channel]);
    try {
      const r = await svc.rpc('REGISTRY.heartbeat', { args: [uniq('u')], reply_to: channel });
      const got = await sub.next(() => true);
      expect(got).toEqual({ ...r.body, trace_id: r.headers['x-trace-id'] });
    } finally {
      await sub.close();
    }
    const refused = await svc.rpc('REGISTRY.heartbeat', { args: ['u'], reply_to: 'user:victim' });
    expect(refused.body.error.code).toBe('INVALID_REQUEST');
  });

  it('GET /rpc/methods lists the catalogue with argument names and types', async () => {
    const res = await svc.app.inject({ url: '/rpc/methods' });
    const methods = res.json().data.methods as Array<{ name: string; args: Array<{ name: string; required: boolean }> }>;
    const ru = methods.find((m) => m.name === 'REGISTRY.register_user');
    expect(ru?.args.map((a) => [a.name, a.required])).toEqual([['user_id', true], ['session_id', true], ['backend_route', false]]);
    for (const name of ['UNIFIED_REGISTRY.get_company_active_users', 'TASK.start_llm_conversation', 'LISTENERS.start_workflow_listener_for_job', 'REGISTRY.cleanup_user_listeners']) {
      expect(methods.map((m) => m.name)).toContain(name);
    }
  });
});

describe('idempotency', () => {
  it('a repeat replays the stored response byte for byte with idempotent-replay: true', async () => {
    const key = uniq('k');
    const first = await svc.rpc('TEST.random', { kwargs: { tag: 'a' }, idempotency_key: key });
    const again = await svc.rpc('TEST.random', { kwargs: { tag: 'a' }, idempotency_key: key });
    expect(first.body.ok).toBe(true);
    expect(again.raw).toBe(first.raw);
    expect(again.headers['idempotent-replay']).toBe('true');
    expect(first.headers['idempotent-replay']).toBeUndefined();
    const other = await svc.rpc('TEST.random', { kwargs: { tag: 'a' }, idempotency_key: uniq('k') });
    expect(other.body.data.value).not.toBe(first.body.data.value);
  });

  it('the key is scoped by method, and reusing it with other arguments is a CONFLICT', async () => {
    const key = uniq('k');
    await svc.rpc('TEST.random', { kwargs: { tag: 'a' }, idempotency_key: key });
    const conflict = await svc.rpc('TEST.random', { kwargs: { tag: 'b' }, idempotency_key: key });
    expect(conflict.body.error.code).toBe('CONFLICT');
    const otherMethod = await svc.rpc('REGISTRY.heartbeat', { args: [uniq('u')], idempotency_key: key });
    expect(otherMethod.body.ok).toBe(true);
    expect(await svc.core.redis.client.ttl(`idemp:TEST.random:${key}`)).toBeGreaterThan(800);
  });

  it('a concurrent duplicate waits for the first and gets the same response; the method runs once', async () => {
    const key = uniq('k');
    const tag = uniq('g');
    const p1 = svc.rpc('TEST.gated', { kwargs: { tag }, idempotency_key: key });
    const p2 = svc.rpc('TEST.gated', { kwargs: { tag }, idempotency_key: key });
    const { waitFor } = await import('../helpers/env.js');
    await waitFor(() => gates.get(tag), 5000, 'first call running');
    gates.get(tag)!();
    const [a, b] = await Promise.all([p1, p2]);
    expect(a.body.ok).toBe(true);
    expect(b.raw).toBe(a.raw);
    expect(calls.get(tag)).toBe(1);
    expect([a.headers['idempotent-replay'], b.headers['idempotent-replay']].filter(Boolean)).toHaveLength(1);
  });

  it('a duplicate that outwaits its own timeout_ms gets TIMEOUT, not a second run', async () => {
    const key = uniq('k');
    const tag = uniq('g');
    const p1 = svc.rpc('TEST.gated', { kwargs: { tag }, idempotency_key: key });
    const { waitFor } = await import('../helpers/env.js');
    await waitFor(() => gates.get(tag), 5000, 'first call running');
    const dup = await svc.rpc('TEST.gated', { kwargs: { tag }, idempotency_key: key, timeout_ms: 100 });
    expect(dup.body.error.code).toBe('TIMEOUT');
    gates.get(tag)!();
    expect((await p1).body.ok).toBe(true);
    expect(calls.get(tag)).toBe(1);
  });

  it.each(['INTERNAL', 'UNAVAILABLE'])('a %s answer is not stored: the retry runs again and succeeds', async (code) => {
    const key = uniq('k');
    const tag = uniq('t');
    const first = await svc.rpc('TEST.flaky', { kwargs: { tag, code }, idempotency_key: key });
    expect(first.body.error.code).toBe(code);
    const retry = await svc.rpc('TEST.flaky', { kwargs: { tag, code }, idempotency_key: key });
    expect(retry.body).toEqual({ ok: true, data: { run: 2 }, error: null });
    expect(retry.headers['idempotent-replay']).toBeUndefined();
  });

  it('an application error such as CONFLICT is stored and replayed', async () => {
    const key = uniq('k');
    const tag = uniq('t');
    const first = await svc.rpc('TEST.flaky', { kwargs: { tag, code: 'CONFLICT' }, idempotency_key: key });
    const again = await svc.rpc('TEST.flaky', { kwargs: { tag, code: 'CONFLICT' }, idempotency_key: key });
    expect(again.raw).toBe(first.raw);
    expect(calls.get(tag)).toBe(1);
  });

  it('read-only methods skip idempotency', async () => {
    const key = uniq('k');
    const uid = uniq('u');
    const before = await svc.rpc('UNIFIED_REGISTRY.get_user_registry', { args: [uid], idempotency_key: key });
    expect(before.body.data).toBeNull();
    await svc.rpc('REGISTRY.register_user', { args: [uid, 's'] });
    const after = await svc.rpc('UNIFIED_REGISTRY.get_user_registry', { args: [uid], idempotency_key: key });
    expect(after.body.data.user_info.user_id).toBe(uid);
    expect(after.headers['idempotent-replay']).toBeUndefined();
  });
});

describe('ops endpoints', () => {
  it('/healthz, /readyz, /version, /metrics', async () => {
    const h = (await svc.app.inject({ url: '/healthz' })).json();
    expect(h).toMatchObject({ status: 'ok', redis: 'ok', registry_mode: 'unified', listeners_count: 0, workflow_listeners_count: 0 });
    expect(typeof h.uptime_s).toBe('number');
    expect((await svc.app.inject({ url: '/readyz' })).json()).toEqual({ ok: true });
    expect((await svc.app.inject({ url: '/version' })).json()).toHaveProperty('version');
    const m = await svc.app.inject({ url: '/metrics' });
    expect(m.body).toContain('rpc_requests_total');
  });
});
