import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { io as ioClient, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start, type Started } from '../../src/main.js';
import { makeEvent } from '../../src/shared/events.js';
import { redisEnv, startFirestore, TEST_TOKEN, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';

/**
 * The operator console in a real browser (Debian's Chromium driven by playwright-core) over a small
 * deployment in this process: two api processes and one worker, each started by main.ts's start()
 * with its own role and instance id, sharing the test Redis and the Firestore emulator. Requires
 * `apt-get install -y chromium` (fails, never skips, when it is missing). Screenshots go to
 * test-artifacts/ (git-ignored).
 */
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = 'test-artifacts';
let fs: FirestoreEmulator;
let browser: Browser;
const procs: Started[] = [];
const ids = { api1: uniq('api-a'), api2: uniq('api-b'), worker: uniq('worker') };
let socket: Socket | undefined;

async function startProcess(role: 'api' | 'worker', instanceId: string): Promise<Started> {
  const s = await start({
    ...redisEnv(),
    NODE_ENV: 'development',
    CONTAINER_TYPE: role,
    INSTANCE_ID: instanceId,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    LISTENERS_SERVICE_TOKEN: TEST_TOKEN,
    FIREBASE_PROJECT_ID: 'demo-test',
    FIRESTORE_EMULATOR_HOST: fs.host,
    UNIFIED_REGISTRY_ENABLED: 'true',
    CONSOLE_STATUS_INTERVAL_MS: '300',
    METADATA_SERVER_DETECTION: 'none',
  });
  procs.push(s);
  return s;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install it with \`apt-get install -y chromium\` (this end-to-end test needs a real browser)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  fs = await startFirestore();
  await startProcess('api', ids.api1);
  await startProcess('api', ids.api2);
  await startProcess('worker', ids.worker);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}, 90000);

afterAll(async () => {
  socket?.close();
  await browser?.close();
  for (const p of procs.reverse()) await p.close();
  fs?.stop();
});

async function rpc(base: string, method: string, args: unknown[] | Record<string, unknown>) {
  const body = Array.isArray(args) ? { args } : { kwargs: args };
  const res = await fetch(`${base}/rpc`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ api_version: 'v1', method, idempotency_key: uniq('k'), ...body }),
  });
  const json = (await res.json()) as { ok: boolean; data?: unknown; error?: unknown };
  if (!json.ok) throw new Error(`${method}: ${JSON.stringify(json.error)}`);
  return json.data;
}

describe('operator console at /admin in Chromium', () => {
  it('signs in once, shows every process, a user with their watcher, live charts and the user view, then opens /admin/queues without signing in again', async () => {
    const [api1, api2] = procs as [Started, Started];
    const base = `http://127.0.0.1:${api1.port}`;
    const uid = uniq('alice');

    // A user online: registered (Firestore presence: a lease and a notifications watcher on one
    // api) and connected with a socket to the second api.
    await rpc(base, 'REGISTRY.register_user', [uid, uniq('s')]);
    socket = ioClient(`http://127.0.0.1:${api2.port}`, { path: '/socket.io', transports: ['websocket'], auth: { service_token: TEST_TOKEN, uid }, reconnection: false });
    await new Promise<void>((resolve, reject) => {
      socket!.once('connect', () => resolve());
      socket!.once('connect_error', reject);
    });

    const page: Page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.url()} ${r.status()}`);
    });

    // Sign in once, with the form.
    const denied = await page.goto(`${base}/admin`);
    expect(denied?.status()).toBe(401);
    await page.fill('input[name=token]', TEST_TOKEN);
    await Promise.all([page.waitForURL(`${base}/admin`), page.click('button[type=submit]')]);
    expect(await page.content()).not.toContain(TEST_TOKEN);
    const cookie = (await page.context().cookies()).find((c) => c.name === 'pinnokio_admin');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/admin' });
    expect(cookie?.value).not.toContain(TEST_TOKEN);
    problems.length = 0; // the 401 of the sign-in page was expected
    failed.length = 0;

    // Every process, from any node's console.
    for (const [id, role] of [[ids.api1, 'api'], [ids.api2, 'api'], [ids.worker, 'worker']] as const) {
      await page.locator(`#nodes tr[data-instance="${id}"][data-role="${role}"]`).waitFor({ timeout: 20000 });
    }
    // The user online, connected on api2, with a notifications watcher on the lease holder.
    const userRow = page.locator(`#users tr[data-uid="${uid}"]`);
    await userRow.waitFor({ timeout: 20000 });
    await waitFor(async () => (await userRow.getAttribute('data-watchers'))?.includes('notifications'), 20000, "the user's watcher in the overview");
    expect(await userRow.textContent()).toContain(ids.api2);
    await page.locator('#queues tr[data-queue="default"]').waitFor({ timeout: 10000 });

    // The events chart moves while events are published.
    const chart = page.locator('#chart-events');
    await waitFor(async () => Number(await chart.getAttribute('data-points')) >= 2, 20000, 'chart points');
    const before = Number(await chart.getAttribute('data-points'));
    const events: string[] = [];
    const publisher = setInterval(() => {
      const ev = makeEvent('notif.add', uid, { n: events.length });
      events.push(ev.event_id);
      void api1.core.deps.publisher.publishUser(ev);
    }, 50);
    try {
      await waitFor(async () => Number(await chart.getAttribute('data-last')) > 0 && (await chart.getAttribute('data-types'))?.includes('notif.add'), 20000, 'a positive event rate on the chart');
    } finally {
      clearInterval(publisher);
    }
    expect(Number(await chart.getAttribute('data-points'))).toBeGreaterThan(before);
    expect(await page.locator('#chart-events canvas').count()).toBeGreaterThan(0);
    await page.screenshot({ path: `${ARTIFACTS}/console-overview.png`, fullPage: true });

    // The user view of that uid, updating live: a task appears, then its progress moves.
    await userRow.locator('a').click();
    await page.locator(`#user[data-uid="${uid}"]`).waitFor({ timeout: 15000 });
    await page.locator(`#user-events li[data-event-id="${events.at(-1)}"]`).waitFor({ timeout: 15000 });
    expect(await page.locator('#user-presence').textContent()).toContain(ids.api2);
    await waitFor(async () => (await page.locator('#user-watchers').textContent())?.includes('notifications'), 15000, 'watcher in the user view');
    const taskId = uniq('task');
    await rpc(base, 'UNIFIED_REGISTRY.register_task', { task_id: taskId, task_type: 'document_analysis', user_id: uid, company_id: 'acme' });
    const taskRow = page.locator(`#user-tasks tr[data-task-id="${taskId}"]`);
    await taskRow.waitFor({ timeout: 15000 });
    await rpc(base, 'UNIFIED_REGISTRY.update_task_progress', { task_id: taskId, status: 'processing', progress_percent: 42, current_step: 'ocr' });
    await waitFor(async () => (await taskRow.getAttribute('data-progress')) === '42', 15000, 'task progress 42 in the user view');
    expect(page.url()).toContain(`?uid=${uid}`);
    await page.screenshot({ path: `${ARTIFACTS}/console-user.png`, fullPage: true });

    // The console loaded nothing from outside the service and logged no error (CSP included).
    expect(problems).toEqual([]);
    expect(failed).toEqual([]);

    // The queue dashboard on the same sign-in (bull-board itself asks Google Fonts for its font:
    // offline it falls back to a system font).
    expect(await page.locator('#link-queues').getAttribute('href')).toBe('/admin/queues');
    expect(await page.locator('#link-docs').getAttribute('href')).toBe('/docs');
    const queues = await page.goto(`${base}/admin/queues`);
    expect(queues?.status()).toBe(200);
    await page.getByText('pinnokio queues').first().waitFor({ timeout: 20000 });
    await page.screenshot({ path: `${ARTIFACTS}/console-queues.png`, fullPage: true });

    await page.close();
  }, 120000);
});
