/**
 * Hostile names (issue 9 item 2): every method of the catalogue gets `__proto__`, `constructor`,
 * `prototype` and their encodings in every string argument and as keys of every object argument;
 * documents poisoned in storage before the fix are read back; `reply_to` is tried on every internal
 * channel. Afterwards the process is checked for pollution and still answers normally.
 */
import { describe, expect, it } from 'vitest';
import { CATALOGUE } from '../../src/api/rpc/index.js';
import { describeMethod } from '../../src/api/rpc/bind.js';
import { createRedis, waitReady } from '../../src/shared/redis.js';
import { silentLogger } from '../../src/shared/logger.js';
import { keys } from '../../src/shared/keys.js';
import { field } from '../../src/registry/hashDoc.js';
import { loadConfig } from '../../src/config/load.js';
import { collectChannel, redisEnv, redisSettings, TEST_TOKEN, uniq } from '../helpers/env.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { useStack } from '../helpers/stack.js';

let svc: TestService;
const protoKeysBefore = Reflect.ownKeys(Object.prototype).map(String).sort();
const fnProtoKeysBefore = Reflect.ownKeys(Function.prototype).map(String).sort();
const arrProtoKeysBefore = Reflect.ownKeys(Array.prototype).map(String).sort();

// The queues only (nothing runs the jobs), and the listener bookkeeping so REGISTRY.*listener* and LISTENERS.* reach their service.
useStack({ env: { UNIFIED_REGISTRY_ENABLED: 'true', QUEUE_PREFIX: uniq('q') }, core: { tasks: true, listeners: 'bookkeeping' } }, async (s) => {
  svc = s.svc;
});

const post = (payload: string) =>
  svc.app.inject({ method: 'POST', url: '/rpc', headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' }, payload });

/** Names that are, or that a reader could decode into, a reserved key. */
const HOSTILE_NAMES = [
  '__proto__',
  'constructor',
  'prototype',
  '__PROTO__',
  'Constructor',
  'a.__proto__',
  '__proto__.polluted',
  'constructor.prototype',
  'x.prototype.y',
  '%5F%5Fproto%5F%5F',
  ' __proto__',
  '__proto__\u0000',
  '\uff43onstructor', // fullwidth c: NFKC → constructor
];
/** The same names written as JSON escapes: identical strings once JSON.parse has read them. */
const JSON_ESCAPED = ['\\u005f_proto__', '\\u005F\\u005Fproto\\u005F\\u005F', 'constr\\u0075ctor', 'prot\\u006ftype'];

/** Process-wide pollution guard: nothing reachable from every object changed. */
function assertNoPollution(): void {
  expect(Reflect.ownKeys(Object.prototype).map(String).sort()).toEqual(protoKeysBefore);
  expect(Reflect.ownKeys(Function.prototype).map(String).sort()).toEqual(fnProtoKeysBefore);
  expect(Reflect.ownKeys(Array.prototype).map(String).sort()).toEqual(arrProtoKeysBefore);
  const probe = {} as Record<string, unknown>;
  expect(probe.polluted).toBeUndefined();
  expect(probe.yes).toBeUndefined();
  expect(Object.getPrototypeOf(probe)).toBe(Object.prototype);
  expect(Object.prototype.toString.call([])).toBe('[object Array]');
  expect(typeof ({}).constructor).toBe('function');
  expect(({}).constructor).toBe(Object);
}

/** The service still answers normally: a normal call, /metrics and /healthz. */
async function assertServiceHealthy(): Promise<void> {
  const uid = uniq('ok');
  const r = await svc.rpc('REGISTRY.register_user', { args: [uid, uniq('s')] });
  expect(r.status).toBe(200);
  expect(r.body.ok).toBe(true);
  const doc = await svc.rpc('UNIFIED_REGISTRY.get_user_registry', { args: [uid] });
  expect(doc.body.ok).toBe(true);
  expect(doc.body.data.user_info.user_id).toBe(uid);
  const metrics = await svc.app.inject({ url: '/metrics' });
  expect(metrics.statusCode).toBe(200);
  expect(metrics.body).toContain('rpc_requests_total');
  const health = await svc.app.inject({ url: '/healthz' });
  expect(health.statusCode).toBeLessThan(600);
  expect(typeof health.json()).toBe('object');
}

type ArgSchema = { type?: string; enum?: string[]; anyOf?: ArgSchema[]; pattern?: string; items?: ArgSchema; default?: unknown };
const described = CATALOGUE.map(describeMethod) as Array<{ name: string; args: Array<{ name: string; required: boolean; schema: ArgSchema }> }>;

/** A valid value for an argument (enough for the method to get past validation). */
function sampleValue(name: string, schema: ArgSchema): unknown {
  const special: Record<string, unknown> = {
    documents: [{ id: 'd1', text: 'hello world', metadata: { lang: 'en' } }],
    document_data: { content: 'Invoice 12 total 10 EUR', file_name: 'f.txt' },
    service_data: { model: 'x', nested: { a: 1 } },
    prompt: 'hello',
    query: 'hello',
    task_type: 'custom',
  };
  if (name in special) return special[name];
  const s = schema.anyOf ? schema.anyOf.find((x) => x.type !== 'null')! : schema;
  if (s.enum) return s.enum[0];
  switch (s.type) {
    case 'string':
      return s.pattern ? uniq(name.replace(/_/g, '')) : 'text';
    case 'number':
    case 'integer':
      return 1;
    case 'boolean':
      return false;
    case 'array':
      return s.items?.type === 'string' && !s.items.enum ? ['c1'] : [];
    case 'object':
      return { a: 1 };
    default:
      return null;
  }
}

function baseKwargs(m: (typeof described)[number]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of m.args) out[a.name] = sampleValue(a.name, a.schema);
  return out;
}

const isIdentifier = (schema: ArgSchema): boolean => Boolean((schema.anyOf ? schema.anyOf.find((x) => x.type !== 'null') : schema)?.pattern);
const stringArgs = (m: (typeof described)[number]) =>
  m.args.filter((a) => {
    const s = a.schema.anyOf ? a.schema.anyOf.find((x) => x.type !== 'null')! : a.schema;
    return s.type === 'string' && !s.enum;
  });
const objectArgs = (m: (typeof described)[number]) =>
  m.args.filter((a) => {
    const s = a.schema.anyOf ? a.schema.anyOf.find((x) => x.type !== 'null')! : a.schema;
    return s.type === 'object' || (s.type === 'array' && !s.items?.type);
  });

/** A response that is not a crash: JSON envelope, no 5xx, no stack in the body. */
function expectClean(res: { statusCode: number; body: string }, what: string): Record<string, any> {
  expect(res.statusCode, what).toBeLessThan(500);
  expect(res.body, what).not.toMatch(/\bat .*\.(js|ts):\d+|TypeError|RangeError/);
  return JSON.parse(res.body) as Record<string, any>;
}


/** A published RPC answer (the envelope a reply_to publication carries), as opposed to other traffic. */
function isRpcAnswer(msg: string): boolean {
  try {
    const v = JSON.parse(msg) as unknown;
    return typeof v === 'object' && v !== null && 'ok' in v && 'data' in v && 'error' in v;
  } catch {
    return false;
  }
}

describe('hostile keys reach no object as a key', () => {
  it('the catalogue is covered: every method has a valid base call (so refusals below are about the names)', async () => {
    expect(described.length).toBeGreaterThanOrEqual(25);
    for (const m of described) {
      const res = await post(JSON.stringify({ api_version: 'v1', method: m.name, idempotency_key: uniq('k'), kwargs: baseKwargs(m) }));
      const body = expectClean(res, m.name);
      if (!body.ok) expect(body.error.code, `${m.name}: ${body.error.message}`).not.toBe('INVALID_ARGS');
    }
    assertNoPollution();
  });

  it('every string argument of every method: reserved names and their encodings are refused by name, others never crash', async () => {
    let refused = 0;
    for (const m of described) {
      for (const arg of stringArgs(m)) {
        const values = [...HOSTILE_NAMES.map((v) => JSON.stringify(v)), ...JSON_ESCAPED.map((v) => `"${v}"`)];
        for (const encoded of values) {
          const kwargs = baseKwargs(m);
          const rest = JSON.stringify(kwargs).slice(1, -1);
          // Written by hand so the JSON escapes reach the server as escapes.
          const payload = `{"api_version":"v1","method":${JSON.stringify(m.name)},"idempotency_key":"${uniq('k')}","kwargs":{${rest},${JSON.stringify(arg.name)}:${encoded}}}`;
          const what = `${m.name}(${arg.name}=${encoded})`;
          const body = expectClean(await post(payload), what);
          if (isIdentifier(arg.schema)) {
            expect(body.ok, what).toBe(false);
            expect(body.error.code, what).toBe('INVALID_ARGS');
            expect(body.error.message, what).toContain(arg.name);
            refused++;
          }
        }
      }
    }
    expect(refused).toBeGreaterThan(300);
    assertNoPollution();
    await assertServiceHealthy();
  });

  it('every object argument of every method: reserved keys (plain, escaped, nested, inside arrays) are refused', async () => {
    const poisons = [
      '{"__proto__":{"polluted":"yes"}}',
      '{"\\u005f_proto__":{"polluted":"yes"}}',
      '{"constructor":{"prototype":{"polluted":"yes"}}}',
      '{"ok":{"constructor":{"prototype":{"polluted":"yes"}}}}',
      '{"a.__proto__.polluted":"yes"}',
      '{"prototype":1}',
      '[{"id":"d","text":"t","metadata":{"__proto__":{"polluted":"yes"}}}]',
      '[{"id":"d","text":"t","metadata":{"constructor":{"prototype":{"polluted":"yes"}}}}]',
    ];
    let checked = 0;
    for (const m of described) {
      for (const arg of objectArgs(m)) {
        for (const poison of poisons) {
          const kwargs = baseKwargs(m);
          delete kwargs[arg.name];
          const rest = JSON.stringify(kwargs).slice(1, -1);
          const payload = `{"api_version":"v1","method":${JSON.stringify(m.name)},"idempotency_key":"${uniq('k')}","kwargs":{${rest}${rest ? ',' : ''}${JSON.stringify(arg.name)}:${poison}}}`;
          const what = `${m.name}(${arg.name}=${poison})`;
          const res = await post(payload);
          const body = expectClean(res, what);
          expect(body.ok, what).toBe(false);
          // Fastify's body parser refuses a literal __proto__ key (400 INVALID_REQUEST); everything else is INVALID_ARGS.
          expect(['INVALID_ARGS', 'INVALID_REQUEST'], what).toContain(body.error.code);
          if (body.error.code === 'INVALID_ARGS') expect(body.error.message, what).toMatch(/reserved name/);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(24); // document_data, documents, service_data × 8
    assertNoPollution();
    await assertServiceHealthy();
  });

  it('UNIFIED_REGISTRY.update_user_service(u, "__proto__", …) is refused and nothing is stored; the next read is clean', async () => {
    const uid = uniq('u');
    await svc.rpc('UNIFIED_REGISTRY.register_user_session', { args: [uid, uniq('s'), 'co1'] });
    for (const name of ['__proto__', 'constructor', 'prototype', 'llm.__proto__']) {
      const r = await svc.rpc('UNIFIED_REGISTRY.update_user_service', { args: [uid, name, { polluted: 'yes' }] });
      expect(r.body.error).toMatchObject({ code: 'INVALID_ARGS', message: expect.stringContaining('service_name') });
    }
    const hash = await svc.core.deps.redis.hgetall(keys.user(uid));
    expect(Object.keys(hash).some((f) => /proto|constructor|prototype/.test(f))).toBe(false);
    const doc = await svc.rpc('UNIFIED_REGISTRY.get_user_registry', { args: [uid] });
    expect(doc.body.ok).toBe(true);
    assertNoPollution();
  });

  it('kwargs named like inherited members are unknown arguments with a precise message', async () => {
    for (const k of ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__']) {
      const r = await svc.rpc('REGISTRY.heartbeat', { kwargs: { user_id: uniq('u'), [k]: 1 } });
      expect(r.body.error.code, k).toBe('INVALID_ARGS');
      expect(r.body.error.message, k).not.toContain('given both positionally and by keyword');
      expect(r.body.error.message, k).toContain(k);
    }
    const raw = await post(`{"api_version":"v1","method":"REGISTRY.heartbeat","idempotency_key":"${uniq('k')}","kwargs":{"user_id":"u1","\\u005f_proto__":{"polluted":"yes"}}}`);
    expect(expectClean(raw, 'kwargs __proto__').ok).toBe(false);
    assertNoPollution();
    await assertServiceHealthy();
  });

  it('a user document poisoned in Redis before the fix is read without polluting, on this and on a restarted node', async () => {
    const uid = uniq('u');
    await svc.rpc('UNIFIED_REGISTRY.register_user_session', { args: [uid, uniq('s'), 'co1'] });
    const k = keys.user(uid);
    await svc.core.deps.redis.hset(k, {
      [field('services', '__proto__', 'polluted')]: '"yes"',
      [field('__proto__', 'polluted')]: '"yes"',
      [field('services', 'constructor', 'prototype')]: '{"polluted":"yes"}',
      [field('companies', 'company_roles', '__proto__')]: '{"polluted":"yes"}',
      [field('services', 'llm', 'model_preferences')]: '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"ok":1}',
      '["services","\\u005f_proto__","polluted"]': '"yes"',
    });
    const doc = await svc.rpc('UNIFIED_REGISTRY.get_user_registry', { args: [uid] });
    expect(doc.body.ok).toBe(true);
    expect(doc.body.data.services.llm.model_preferences).toEqual({ ok: 1 });
    expect(doc.raw).not.toMatch(/__proto__|polluted/);
    assertNoPollution();
    // A fresh node reading the same stored data (what a restart did before the fix).
    const other = await startTestService({ env: { UNIFIED_REGISTRY_ENABLED: 'true' } });
    try {
      const again = await other.rpc('UNIFIED_REGISTRY.get_user_registry', { args: [uid] });
      expect(again.body.ok).toBe(true);
      const hb = await other.rpc('UNIFIED_REGISTRY.update_user_heartbeat', { args: [uid] });
      expect(hb.body.data).toBe(true);
    } finally {
      await other.close();
    }
    assertNoPollution();
    await assertServiceHealthy();
  });

  it('a task document poisoned in Redis is read back clean by every task reader', async () => {
    const uid = uniq('u');
    const taskId = uniq('t');
    await svc.rpc('UNIFIED_REGISTRY.register_task', { args: [taskId, 'custom', uid, 'co1'] });
    await svc.core.deps.redis.hset(keys.task(taskId), {
      [field('result', '__proto__', 'polluted')]: '"yes"',
      [field('__proto__', 'polluted')]: '"yes"',
      [field('result')]: '{"__proto__":{"polluted":"yes"},"fine":true}',
    });
    const reg = await svc.rpc('UNIFIED_REGISTRY.get_task_registry', { args: [taskId] });
    expect(reg.body.data.task_info.task_id).toBe(taskId);
    expect(reg.raw).not.toMatch(/polluted/);
    const st = await svc.rpc('TASK.get_task_status', { args: [taskId] });
    expect(st.body.data.result).toEqual({ fine: true });
    const list = await svc.rpc('TASK.list_user_tasks', { args: [uid] });
    expect(list.body.data.map((t: { task_id: string }) => t.task_id)).toEqual([taskId]);
    assertNoPollution();
  });

  it('a legacy (Firestore) presence document with reserved keys is read without polluting', async () => {
    const uid = uniq('u');
    const legacy = await startTestService({ env: { UNIFIED_REGISTRY_ENABLED: 'false' } });
    try {
      await legacy.rpc('REGISTRY.register_user', { args: [uid, uniq('s')] });
      const ref = legacy.core.deps.firestore!.collection('listeners_registry').doc(uid);
      await ref.set({ services: { llm: JSON.parse('{"constructor":{"prototype":{"polluted":"yes"}},"ok":1}') }, company_roles: { c1: 'admin', constructor: 'x' } }, { merge: true });
      const doc = await legacy.rpc('UNIFIED_REGISTRY.get_user_registry', { args: [uid] });
      expect(doc.body.ok).toBe(true);
      expect(doc.body.data.services.llm).toMatchObject({ ok: 1 });
      expect(doc.raw).not.toMatch(/polluted|"constructor"/);
      expect(doc.body.data.companies.company_roles).toEqual({ c1: 'admin' });
    } finally {
      await legacy.close();
    }
    assertNoPollution();
  });
});

describe('reply_to only on the allow-listed namespace', () => {
  it('internal, user, adapter, look-alike and malformed channels are refused with a precise message; nothing reaches them; the service keeps answering', async () => {
    const spy = createRedis({ settings: redisSettings(), name: 'reply-spy', logger: silentLogger() });
    await waitReady(spy.client);
    const seen: Array<[string, string]> = [];
    spy.client.on('pmessage', (_p: string, ch: string, msg: string) => seen.push([ch, msg]));
    await spy.client.psubscribe('*');
    try {
      const refused: Array<[string, RegExp]> = [
        ['socket.io#/#', /must be a channel name starting with "rpc:reply:", "redis:reply:"/],
        ['socket.io-request#/#', /starting with/],
        ['listeners:control', /starting with/],
        ['user:bob', /starting with/],
        ['USER:bob', /starting with/],
        ['chat:bob:s:t', /starting with/],
        ['rt:deltas:bob', /starting with/],
        ['RPC:REPLY:x', /case-sensitive/],
        ['rpc:reply:', /followed by a name/],
        ['rpc:reply:*', /pattern characters/],
        ['rpc:reply:a?b', /pattern characters/],
        ['rpc:reply:[ab]', /pattern characters/],
        ['rpc:reply:a b', /whitespace/],
        ['rpc:reply:a\tb', /control characters/],
        ['rpc:reply:a\u0000b', /NUL/],
        ['rpc:reply:\u00e9', /printable ASCII/],
        ['rpc\uff1areply:x', /normal form|printable ASCII/],
        [`rpc:reply:${'x'.repeat(300)}`, /at most 256/],
        ['', /must not be empty/],
      ];
      for (const [channel, why] of refused) {
        const r = await svc.rpc('REGISTRY.heartbeat', { args: [uniq('u')], reply_to: channel });
        expect(r.body.ok, JSON.stringify(channel)).toBe(false);
        expect(r.body.error.code, JSON.stringify(channel)).toBe('INVALID_REQUEST');
        expect(r.body.error.message, JSON.stringify(channel)).toMatch(why);
      }
      const notAString = await svc.rpc('REGISTRY.heartbeat', { args: [uniq('u')], reply_to: 42 });
      expect(notAString.body.error.code).toBe('INVALID_REQUEST');

      // Allowed: the response plus trace_id (ORIGINAL §1.6), on success only.
      const good = `rpc:reply:${uniq('c')}`;
      const other = `redis:reply:${uniq('s')}`;
      const sub = await collectChannel([good, other]);
      try {
        const r = await svc.rpc('REGISTRY.heartbeat', { args: [uniq('u')], reply_to: good, trace_id: 'trace-1' });
        expect(await sub.next(() => true)).toEqual({ ...r.body, trace_id: 'trace-1' });
        const failed = await svc.rpc('TASK.get_task_status', { args: [uniq('missing')], reply_to: other });
        expect(failed.body.error.code).toBe('NOT_FOUND');
        const r2 = await svc.rpc('REGISTRY.heartbeat', { args: [uniq('u')], reply_to: other });
        // Redis delivers in order: had the failure been published, it would be the first on `other`.
        const first = await sub.next((m) => m.trace_id === r2.headers['x-trace-id']);
        expect(sub.messages.filter((m) => m.ok === false)).toEqual([]);
        expect(first.ok).toBe(true);
      } finally {
        await sub.close();
      }
      // The spy saw the allowed channels and nothing on any refused one (it also sees everything before).
      await waitForSeen(seen, other);
      // Other test files share this Redis and publish on some of these channels themselves
      // (listeners:control, socket.io adapters): only an RPC answer there would be ours.
      const rpcAnswers = seen.filter(([, msg]) => isRpcAnswer(msg)).map(([ch]) => ch);
      expect(rpcAnswers.filter((ch) => refused.some(([c]) => c === ch))).toEqual([]);
      expect(rpcAnswers.some((ch) => ch.startsWith('socket.io'))).toBe(false);
    } finally {
      await spy.close();
    }
    assertNoPollution();
    await assertServiceHealthy();
  });
});

describe('RPC_REPLY_PREFIXES', () => {
  it('a prefix overlapping the service\'s own channels, or with pattern characters, is a configuration problem', async () => {
    const bad = await loadConfig({ ...redisEnv(), RPC_REPLY_PREFIXES: 'user:,socket.io#,listeners:ctl,rpc:reply:*,ab,rt:deltas:' });
    expect(bad.ok).toBe(false);
    const problems = bad.ok ? [] : bad.problems.join('\n');
    expect(problems).toContain('prefix "user:" overlaps the service\'s own channel namespace "user:"');
    expect(problems).toContain('prefix "socket.io#" overlaps');
    expect(problems).toContain('prefix "listeners:ctl" overlaps');
    expect(problems).toContain('prefix "rpc:reply:*" must not contain the pattern characters');
    expect(problems).toContain('prefix "ab" is too short');
    expect(problems).toContain('prefix "rt:deltas:" overlaps');
    const good = await loadConfig({ ...redisEnv(), RPC_REPLY_PREFIXES: 'myapp:replies:' });
    expect(good.ok && good.config.rpc.replyPrefixes).toEqual(['myapp:replies:']);
    const dflt = await loadConfig({ ...redisEnv() });
    expect(dflt.ok && dflt.config.rpc.replyPrefixes).toEqual(['rpc:reply:', 'redis:reply:']);
  });

  it('a configured namespace replaces the default one', async () => {
    const custom = await startTestService({ env: { RPC_REPLY_PREFIXES: 'myapp:replies:' } });
    try {
      const sub = await collectChannel(['myapp:replies:s1']);
      try {
        const r = await custom.rpc('REGISTRY.heartbeat', { args: [uniq('u')], reply_to: 'myapp:replies:s1' });
        expect(r.body.ok).toBe(true);
        expect(await sub.next(() => true)).toMatchObject({ ok: true, trace_id: r.headers['x-trace-id'] });
      } finally {
        await sub.close();
      }
      const old = await custom.rpc('REGISTRY.heartbeat', { args: [uniq('u')], reply_to: 'rpc:reply:x' });
      expect(old.body.error).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringContaining('"myapp:replies:"') });
    } finally {
      await custom.close();
    }
  });
});

async function waitForSeen(seen: Array<[string, string]>, channel: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!seen.some(([ch]) => ch === channel)) {
    if (Date.now() > deadline) throw new Error(`spy never saw ${channel}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
