import { describe, expect, it } from 'vitest';
import { describeConfig, loadConfig } from '../../../src/config/load.js';
import { StaticSecrets } from '../../../src/config/secrets.js';

describe('configuration', () => {
  it('applies the contract defaults', async () => {
    const r = await loadConfig({});
    if (!r.ok) throw new Error(r.problems.join('; '));
    const c = r.config;
    expect(c.port).toBe(8090);
    expect(c.role).toBe('all');
    expect(c.redis).toMatchObject({ host: '127.0.0.1', port: 6379, tls: false, tlsVerify: true, db: 0, cluster: false });
    expect(c.queueRedis).toEqual(c.redis);
    expect(c.channelPrefix).toBe('user:');
    expect(c.chatChannelPrefix).toBe('chat:');
    expect(c.rpc).toMatchObject({ apiVersion: 'v1', idempTtlSeconds: 900, idempDisable: false, bodyLimitBytes: 1048576, defaultTimeoutMs: 15000 });
    expect(c.unifiedRegistryEnabled).toBe(false);
    expect(c.listenersTtlSeconds).toBe(90);
    expect(c.heartbeatIntervalSeconds).toBe(45);
    expect(c.workerQueues).toEqual(['default', 'computation', 'llm', 'maintenance']);
    expect(c.workerConcurrency).toBe(4);
    expect(c.shutdownGraceMs).toBe(25000);
    expect(c.queuePrefix).toBe('{bull}');
    expect(c.realtimeSyncConcurrency).toBe(32);
    expect(Object.isFrozen(c) && Object.isFrozen(c.redis)).toBe(true);
  });

  it.each([
    ['true', true], ['TRUE', true], ['1', true], ['yes', true], ['On', true],
    ['false', false], ['0', false], ['no', false], ['OFF', false],
  ])('accepts boolean %s', async (raw, expected) => {
    const r = await loadConfig({ UNIFIED_REGISTRY_ENABLED: raw });
    expect(r.ok && r.config.unifiedRegistryEnabled).toBe(expected);
  });

  it('lists every problem at once, and a bad boolean is an error, not false', async () => {
    const r = await loadConfig({
      UNIFIED_REGISTRY_ENABLED: 'maybe',
      PORT: 'eighty',
      CONTAINER_TYPE: 'cron',
      LISTENERS_REDIS_PASSWORD: 'None',
      LISTENERS_REDIS_CLUSTER: 'true',
      LISTENERS_REDIS_DB: '1',
      WORKER_QUEUES: 'default,bogus',
      UNLEASH_URL: 'ftp://x',
      REALTIME_SYNC_CONCURRENCY: '0',
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const text = r.problems.join('\n');
    for (const name of ['UNIFIED_REGISTRY_ENABLED', 'PORT', 'CONTAINER_TYPE', 'LISTENERS_REDIS_PASSWORD', 'LISTENERS_REDIS_DB', 'WORKER_QUEUES', 'UNLEASH_URL', 'REALTIME_SYNC_CONCURRENCY']) {
      expect(text).toContain(name);
    }
    expect(r.problems.length).toBeGreaterThanOrEqual(7);
  });

  it('refuses production without a service token', async () => {
    const r = await loadConfig({ NODE_ENV: 'production' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.join()).toContain('LISTENERS_SERVICE_TOKEN');
    const ok = await loadConfig({ NODE_ENV: 'production', LISTENERS_SERVICE_TOKEN: 'x'.repeat(32) });
    expect(ok.ok).toBe(true);
  });

  it('USE_LOCAL_REDIS forces 127.0.0.1:6379 without TLS or password', async () => {
    const r = await loadConfig({ USE_LOCAL_REDIS: 'true', LISTENERS_REDIS_HOST: 'prod.cache', LISTENERS_REDIS_TLS: 'true', LISTENERS_REDIS_PASSWORD: 'p' });
    expect(r.ok && r.config.redis).toMatchObject({ host: '127.0.0.1', port: 6379, tls: false, password: undefined });
  });

  it('queue Redis defaults to the main one and can differ', async () => {
    const r = await loadConfig({ LISTENERS_REDIS_HOST: 'main', QUEUE_REDIS_HOST: 'queues', QUEUE_REDIS_TLS: 'yes' });
    expect(r.ok && r.config.queueRedis).toMatchObject({ host: 'queues', tls: true, port: 6379 });
    expect(r.ok && r.config.redis.host).toBe('main');
  });

  it('reads secrets from Secret Manager when GOOGLE_PROJECT_ID and names are set; secrets win over env', async () => {
    const secrets = new StaticSecrets({
      'pinnokio/listeners/redis': JSON.stringify({ host: 'cache.aws', port: 6380, password: 'pw', tls: true, tls_verify: false, db: 0, cluster: true, channel_prefix: 'u:' }),
      'pinnokio/listeners/firebase_admin': JSON.stringify({ project_id: 'proj-x', client_email: 'a@b', private_key: 'k' }),
      'pinnokio/listeners/service_config': JSON.stringify({ allowed_origins: ['https://app.example'], alb_ws_path: 'wss://alb/ws', heartbeat_ttl_seconds: 120 }),
    });
    const r = await loadConfig(
      {
        GOOGLE_PROJECT_ID: 'gcp',
        REDIS_SECRET_NAME: 'pinnokio/listeners/redis',
        FIREBASE_ADMIN_SECRET_NAME: 'pinnokio/listeners/firebase_admin',
        SERVICE_CONFIG_SECRET_NAME: 'pinnokio/listeners/service_config',
        LISTENERS_REDIS_HOST: 'ignored-by-secret',
      },
      secrets,
    );
    if (!r.ok) throw new Error(r.problems.join('; '));
    expect(r.config.redis).toMatchObject({ host: 'cache.aws', port: 6380, password: 'pw', tls: true, tlsVerify: false, cluster: true });
    expect(r.config.channelPrefix).toBe('u:');
    expect(r.config.firebase.projectId).toBe('proj-x');
    expect(r.config.allowedOrigins).toEqual(['https://app.example']);
    expect(r.config.listenersTtlSeconds).toBe(120);
    const shown = JSON.stringify(describeConfig(r.config));
    expect(shown).not.toContain('pw');
    expect(shown).not.toContain('"k"');
  });

  it('a malformed secret is a listed problem that does not print its value', async () => {
    const r = await loadConfig({ GOOGLE_PROJECT_ID: 'g', REDIS_SECRET_NAME: 'r' }, new StaticSecrets({ r: 'not json s3cr3t' }));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problems.join()).toContain('REDIS_SECRET_NAME');
      expect(r.problems.join()).not.toContain('s3cr3t');
    }
  });
});
