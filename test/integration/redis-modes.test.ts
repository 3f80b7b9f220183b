import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, waitReady } from '../../src/shared/redis.js';
import { silentLogger } from '../../src/shared/logger.js';
import { startFirestore, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import { freeClusterPort, freePort, waitForPort } from '../helpers/net.js';
import { startTestService } from '../helpers/service.js';

const dir = mkdtempSync(join(tmpdir(), 'redis-modes-'));
const children: ChildProcess[] = [];

async function redisServer(args: string[], port: number): Promise<void> {
  const child = spawn('redis-server', ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args], { stdio: 'ignore' });
  children.push(child);
  await waitForPort(port, 10000);
}

let fs: FirestoreEmulator;
beforeAll(async () => {
  fs = await startFirestore();
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  fs?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Redis Cluster', () => {
  it('the registry, idempotency and event history work unchanged on a 3-node cluster', async () => {
    const ports = [await freeClusterPort(), await freeClusterPort(), await freeClusterPort()];
    for (const p of ports) {
      await redisServer(['--port', String(p), '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${p}.conf`)], p);
    }
    execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], { stdio: 'ignore' });
    // The cluster is usable once every node agrees that every slot is served.
    await waitFor(
      () => ports.every((p) => execFileSync('redis-cli', ['-p', String(p), 'CLUSTER', 'INFO']).toString().includes('cluster_state:ok')),
      20000,
      'cluster_state:ok on every node',
    );
    const probe = createRedis({ settings: { host: '127.0.0.1', port: ports[0]!, password: undefined, tls: false, tlsVerify: true, db: 0, cluster: true }, name: 'probe', logger: silentLogger() });
    await waitReady(probe.client, 20000);
    await probe.close();

    const svc = await startTestService({ env: { LISTENERS_REDIS_PORT: String(ports[0]), LISTENERS_REDIS_CLUSTER: 'true', UNIFIED_REGISTRY_ENABLED: 'true' } });
    try {
      await waitReady(svc.core.redis.client, 20000); // no offline queue on the request path: wait for the slot map
      const users = Array.from({ length: 12 }, () => uniq('cu'));
      for (const uid of users) {
        const sid = uniq('s');
        const r = await svc.rpc('UNIFIED_REGISTRY.register_user_session', { args: [uid, sid, 'company-1'] });
        expect(r.body.ok, JSON.stringify(r.body)).toBe(true);
        expect((await svc.rpc('UNIFIED_REGISTRY.update_user_service', { args: [uid, 'llm', { a: 1 }] })).body.data).toBe(true);
        expect((await svc.rpc('REGISTRY.heartbeat', { args: [uid, sid] })).body.ok).toBe(true);
        await svc.core.deps.publisher.publishUser({ type: 'notif.sync', uid, timestamp: new Date().toISOString(), event_id: uniq('e'), payload: {} });
      }
      const active = (await svc.rpc('UNIFIED_REGISTRY.get_company_active_users', { args: ['company-1'] })).body.data as string[];
      expect(active.sort()).toEqual([...users].sort());
      const key = uniq('k');
      const first = await svc.rpc('UNIFIED_REGISTRY.register_task', { args: [uniq('task'), 'demo', users[0], 'company-1'], idempotency_key: key });
      const replay = await svc.rpc('UNIFIED_REGISTRY.register_task', { args: [first.body.data.task_info.task_id, 'demo', users[0], 'company-1'], idempotency_key: key });
      expect(replay.raw).toBe(first.raw);
      // Keys really are spread over several nodes: the cluster is not a single-slot illusion.
      const counts = await Promise.all(ports.map(async (p) => Number(execFileSync('redis-cli', ['-p', String(p), 'DBSIZE']).toString().trim())));
      expect(counts.filter((c) => c > 0).length).toBeGreaterThan(1);
      expect((await svc.rpc('REGISTRY.unregister_session', { args: [uniq('none')] })).body.data).toBe(false);
    } finally {
      await svc.close();
    }
  });
});

describe('TLS', () => {
  it('connects with TLS when verification is off, and refuses an untrusted certificate when it is on', async () => {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    const port = await freePort();
    await redisServer(['--port', '0', '--tls-port', String(port), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-auth-clients', 'no'], port);
    const base = { host: '127.0.0.1', port, password: undefined, tls: true, db: 0, cluster: false };

    const insecure = createRedis({ settings: { ...base, tlsVerify: false }, name: 'tls-noverify', logger: silentLogger() });
    try {
      await waitReady(insecure.client, 10000);
      expect(await insecure.client.ping()).toBe('PONG');
    } finally {
      await insecure.close();
    }

    const verified = createRedis({ settings: { ...base, tlsVerify: true }, name: 'tls-verify', logger: silentLogger(), maxRetriesPerRequest: 0, enableOfflineQueue: false });
    const failure = new Promise<Error>((resolve) => verified.client.once('error', resolve));
    try {
      const err = await failure;
      expect(err.message).toMatch(/self[- ]signed|certificate/i);
      expect(verified.client.status).not.toBe('ready');
    } finally {
      await verified.close();
    }
  });
});
