import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFirestore, TEST_TOKEN, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import type { DependencyCheck } from '../../src/app/deps.js';
import { startTestService, type TestService } from '../helpers/service.js';

/**
 * /healthz and /readyz read the last background check results (a hung dependency never holds a
 * probe), and a body over RPC_BODY_LIMIT always gets the 413 envelope over a real socket, never a
 * reset connection, whether the client declared its length or streams it chunked.
 */
let fs: FirestoreEmulator;
let svc: TestService;
/** Checks a test adds while the service runs (deps.checks is fixed at construction). */
const extraChecks: DependencyCheck[] = [];
let base: string;

beforeAll(async () => {
  fs = await startFirestore();
  svc = await startTestService({ env: { RPC_BODY_LIMIT: String(256 * 1024) }, api: { extraHealthChecks: extraChecks } });
  await svc.app.listen({ port: 0, host: '127.0.0.1' });
  const addr = svc.app.server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterAll(async () => {
  await svc?.close();
  fs?.stop();
});

/**
 * POSTs `size` bytes to /rpc over a raw socket the way simple clients do (python requests, curl):
 * the whole body is written before the answer is read. Rejects if the connection is reset or
 * closed before a complete answer arrived.
 */
function postLarge(size: number, chunked: boolean): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let raw = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (raw += d));
    socket.on('error', (err) => reject(new Error(`connection failed after ${raw.length} response bytes: ${err.message}`)));
    socket.on('close', () => {
      const head = raw.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(raw)?.[1] ?? 0);
      if (head < 0 || !status) return reject(new Error(`no complete answer (${raw.length} bytes)`));
      let body = raw.slice(head + 4);
      if (/transfer-encoding: chunked/i.test(raw.slice(0, head))) body = body.replace(/^[0-9a-f]+\r\n/i, '').replace(/\r\n0\r\n\r\n$/, '');
      resolve({ status, body });
    });
    const headers = [`POST /rpc HTTP/1.1`, `host: ${url.host}`, `authorization: Bearer ${TEST_TOKEN}`, 'content-type: application/json', chunked ? 'transfer-encoding: chunked' : `content-length: ${size}`, 'connection: close'];
    socket.write(`${headers.join('\r\n')}\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 'a');
    chunk[0] = 0x7b;
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const n = Math.min(chunk.length, size - sent);
        sent += n;
        const data = n === chunk.length ? chunk : chunk.subarray(0, n);
        const ok = chunked ? socket.write(Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), data, Buffer.from('\r\n')])) : socket.write(data);
        if (!ok) return void socket.once('drain', pump);
      }
      if (chunked) socket.write('0\r\n\r\n');
    };
    pump();
  });
}

describe('ops endpoints under failure', () => {
  it('/healthz and /readyz answer from the last background results: a hung check is never waited for by a probe', async () => {
    let calls = 0;
    const hung = new Promise<never>(() => undefined);
    extraChecks.push({ name: 'hung', required: true, check: () => ((calls += 1), hung) });
    const latencies: number[] = [];
    const bodies: Array<Record<string, any>> = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const r = await fetch(`${base}/healthz`);
      latencies.push(performance.now() - t);
      expect(r.status).toBe(200);
      bodies.push((await r.json()) as Record<string, any>);
    }
    // Twenty probes, at most a couple of check runs (one in flight at a time), not twenty.
    expect(calls).toBeLessThanOrEqual(2);
    expect(bodies.every((b) => b.status === 'degraded' && b.failing.includes('hung') && b.redis === 'ok')).toBe(true);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    // Once the hung run timed out its result says so; the probes never waited for it.
    await waitFor(async () => ((await (await fetch(`${base}/healthz`)).json()) as { checked_ms_ago: number | null }).checked_ms_ago !== null, 10000, 'a finished run');
    extraChecks.pop();
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, 10000, 'ready again without the hung check');
    latencies.sort((a, b) => a - b);
    console.info(`[ops-health] /healthz with a hung dependency: p50 ${latencies[10]!.toFixed(1)} ms, max ${latencies[19]!.toFixed(1)} ms over 20 probes`);
  });

  it('a 5 MB body always gets the 413 envelope (declared length and chunked), and the service keeps answering', async () => {
    for (let i = 0; i < 6; i++) {
      const r = await postLarge(5 * 1024 * 1024, i % 2 === 1);
      expect(r.status, r.body).toBe(413);
      expect(JSON.parse(r.body)).toMatchObject({ ok: false, error: { code: 'INVALID_REQUEST' } });
    }
    const ok = await fetch(`${base}/rpc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ api_version: 'v1', method: 'REGISTRY.unregister_session', args: [uniq('none')], idempotency_key: uniq('k') }),
    });
    expect(await ok.json()).toMatchObject({ ok: true, data: false });
  });
});
