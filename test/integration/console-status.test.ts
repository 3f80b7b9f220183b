import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStatusRecords, startStatusReporter, type StatusReporter } from '../../src/console/status.js';
import { keys } from '../../src/shared/keys.js';
import type { RedisHandle } from '../../src/shared/redis.js';
import { startFirestore, TEST_TOKEN, testRedis, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import { startGatewayNode, type GatewayNode } from '../helpers/realtimeNode.js';

/** The console's sign-in, its JSON API under hostile input, and the status records in Redis. */
let fs: FirestoreEmulator;
let node: GatewayNode;
let redis: RedisHandle;
let reporter: StatusReporter;

beforeAll(async () => {
  fs = await startFirestore();
  node = await startGatewayNode({ gateway: { presence: false }, tasks: true, env: { CONSOLE_STATUS_INTERVAL_MS: '200' } });
  reporter = startStatusReporter(node.core, {});
  redis = await testRedis();
});
afterAll(async () => {
  await reporter?.close();
  await redis?.close();
  await node?.close();
  fs?.stop();
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${node.url}${path}`, { headers, redirect: 'manual' });

describe('admin sign-in', () => {
  it('answers the sign-in form (401) without credentials, 403 for a wrong token, and never echoes the token', async () => {
    const page = await get('/admin');
    expect(page.status).toBe(401);
    const html = await page.text();
    expect(html).toContain('action="/admin/login"');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await get('/admin?token=nope')).status).toBe(403);
    expect((await get('/admin/api/overview')).status).toBe(401);
    expect((await get('/admin/api/overview', { authorization: 'Bearer nope' })).status).toBe(403);
    expect((await get('/admin/api/overview', { cookie: 'pinnokio_admin=forged' })).status).toBe(401);
    expect((await get('/admin/api/overview', { cookie: 'pinnokio_admin=%E0%A4%A' })).status).toBe(401);
  });

  it('the form sets one cookie (HttpOnly, SameSite=Strict, Path=/admin, an HMAC) that opens the console, its API and /admin/queues', async () => {
    const bad = await fetch(`${node.url}/admin/login`, { method: 'POST', body: new URLSearchParams({ token: 'wrong' }), redirect: 'manual' });
    expect(bad.status).toBe(403);
    expect(bad.headers.get('set-cookie')).toBeNull();
    const huge = await fetch(`${node.url}/admin/login`, { method: 'POST', body: new URLSearchParams({ token: 'x'.repeat(10000) }), redirect: 'manual' });
    expect(huge.status).toBe(413);

    const res = await fetch(`${node.url}/admin/login`, { method: 'POST', body: new URLSearchParams({ token: TEST_TOKEN }), redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/admin');
    const setCookie = res.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^pinnokio_admin=[\w-]+; Path=\/admin; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    expect(setCookie).not.toContain(TEST_TOKEN);
    const cookie = setCookie.split(';')[0]!;
    expect((await get('/admin', { cookie })).status).toBe(200);
    expect((await get('/admin/api/overview', { cookie })).status).toBe(200);
    expect((await get('/admin/queues', { cookie })).status).toBe(200);
    // ?token= on the dashboard sets the same cookie.
    const viaQueues = await get(`/admin/queues?token=${TEST_TOKEN}`);
    expect(viaQueues.status).toBe(303);
    expect(viaQueues.headers.get('set-cookie')!.split(';')[0]).toBe(cookie);
    const out = await fetch(`${node.url}/admin/logout`, { method: 'POST', headers: { cookie }, redirect: 'manual' });
    expect(out.headers.get('set-cookie')).toContain('Max-Age=0');
  });

  it('serves its assets (uPlot included) from the service and nothing else under /admin/static', async () => {
    for (const f of ['console.js', 'console.css', 'uplot.js', 'uplot.css']) expect((await get(`/admin/static/${f}`)).status, f).toBe(200);
    for (const f of ['..%2Fpackage.json', 'routes.ts', '%2e%2e%2fstatus.ts']) expect((await get(`/admin/static/${f}`)).status, f).toBe(404);
  });
});

describe('console API', () => {
  const auth = { authorization: `Bearer ${TEST_TOKEN}` };

  it('refuses uids that are not identifiers with a 400 and a precise message', async () => {
    // Longer than Fastify's path-parameter limit (100): refused before routing.
    expect((await get(`/admin/api/users/${'x'.repeat(129)}`, auth)).status).toBe(414);
    for (const uid of ['a%3Ab', '%7Bslot%7D', 'a%20b', '%00', '__proto__%2F', `${'x'.repeat(90)}%2F`]) {
      const res = await get(`/admin/api/users/${uid}`, auth);
      expect(res.status, uid).toBe(400);
      expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'INVALID_ARGS' });
    }
  });

  it('answers the user view of a user nobody knows with empty parts, not an error', async () => {
    const uid = uniq('nobody');
    const res = await get(`/admin/api/users/${uid}`, auth);
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as { data: Record<string, unknown> };
    expect(data).toMatchObject({ uid, presence: { sockets: 0, nodes: [] }, watchers: [], wanted: [], events: [], tasks: [] });
  });

  it('streams the user view as server-sent events', async () => {
    const ctrl = new AbortController();
    const res = await fetch(`${node.url}/admin/api/users/${uniq('sse')}/stream`, { headers: auth, signal: ctrl.signal });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toMatch(/^event: user\ndata: \{"uid":/);
    ctrl.abort();
  });
});

describe('status records', () => {
  it('each process writes its record with a TTL of three periods and an index entry; stale index entries are pruned', async () => {
    const id = node.core.deps.config.instanceId;
    const rec = await waitFor(async () => (await readStatusRecords(redis.client)).find((r) => r.instance_id === id), 10000, 'own record');
    expect(rec).toMatchObject({ v: 1, role: 'all', interval_ms: 200, sockets: { total: 0 } });
    expect(rec.queues).toHaveProperty('default');
    expect(rec.dependencies.map((d) => d.name)).toContain('redis');
    const pttl = await redis.client.pttl(keys.consoleStatus(id));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(600);

    // A process that died without cleaning up: its index entry goes on the next write of anyone.
    const ghost = uniq('ghost');
    await redis.client.zadd(keys.consoleStatusIndex(), Date.now() - 60_000, ghost);
    await waitFor(async () => (await redis.client.zscore(keys.consoleStatusIndex(), ghost)) === null, 5000, 'ghost pruned');
    // A record that cannot be read is skipped, not fatal.
    const broken = uniq('broken');
    await redis.client.multi().set(keys.consoleStatus(broken), '{not json', 'PX', 5000).zadd(keys.consoleStatusIndex(), Date.now(), broken).exec();
    const all = await readStatusRecords(redis.client);
    expect(all.some((r) => r.instance_id === id)).toBe(true);
    expect(all.some((r) => r.instance_id === broken)).toBe(false);
  });

  it('a closed reporter removes its record and index entry', async () => {
    const other = await startGatewayNode({ gateway: { presence: false }, env: { CONSOLE_STATUS_INTERVAL_MS: '200' } });
    try {
      const r = startStatusReporter(other.core, {});
      const id = other.core.deps.config.instanceId;
      await waitFor(async () => (await redis.client.exists(keys.consoleStatus(id))) === 1, 5000, 'record written');
      await r.close();
      expect(await redis.client.exists(keys.consoleStatus(id))).toBe(0);
      expect(await redis.client.zscore(keys.consoleStatusIndex(), id)).toBeNull();
    } finally {
      await other.close();
    }
  });
});
