import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEvent } from '../../src/shared/events.js';
import { startFirestore, TEST_TOKEN, uniq, type FirestoreEmulator } from '../helpers/env.js';
import { startGatewayNode, type GatewayNode } from '../helpers/realtimeNode.js';

/**
 * The /admin status page in a real browser (Debian's Chromium driven by playwright-core): it opens
 * with the service token, connects with socket.io for a uid, and shows events as they arrive.
 * Requires `apt-get install -y chromium` (fails, never skips, when it is missing).
 */
// Debian's chromium here and in .ci/run; CHROMIUM_PATH elsewhere (the GitHub workflow sets it).
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
let fs: FirestoreEmulator;
let node: GatewayNode;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install it with \`apt-get install -y chromium\` (this end-to-end test needs a real browser)`);
  fs = await startFirestore();
  node = await startGatewayNode({ gateway: { presence: false } });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
});

afterAll(async () => {
  await browser?.close();
  await node?.close();
  fs?.stop();
});

describe('/admin status page in Chromium', () => {
  it('refuses without the token, then connects for a uid and lists published events', async () => {
    const page = await browser.newPage();
    const denied = await page.goto(`${node.url}/admin`);
    expect(denied?.status()).toBe(401);

    const uid = uniq('admin');
    const res = await page.goto(`${node.url}/admin?token=${encodeURIComponent(TEST_TOKEN)}&uid=${uid}`);
    expect(res?.status()).toBe(200);
    // The token left the URL (redirect) and is nowhere in the page.
    expect(page.url()).not.toContain(TEST_TOKEN);
    expect(await page.content()).not.toContain(TEST_TOKEN);
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === 'pinnokio_admin')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });

    await page.locator('#state.connected').waitFor({ timeout: 15000 });
    const ev = makeEvent('task.progress_update', uid, { task_id: 'doc_analysis_demo', status: 'processing', progress: 42, data: {} });
    await node.core.deps.publisher.publishUser(ev);
    const li = page.locator(`#events li[data-event-id="${ev.event_id}"]`);
    await li.waitFor({ timeout: 15000 });
    expect(await li.getAttribute('data-type')).toBe('task.progress_update');
    expect(await li.textContent()).toContain('"progress":42');
    expect(await page.locator('#state').textContent()).toBe('connected');
    await page.screenshot({ path: '/tmp/realtime-admin.png', fullPage: true });
    await page.close();
  });
});
