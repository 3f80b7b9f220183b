import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { FirestoreServer } from '@firestore-emulator/server';
import { loadConfig, type Env } from '../../src/config/load.js';
import type { Config, RedisSettings } from '../../src/config/schema.js';
import { createRedis, waitReady, type RedisHandle } from '../../src/shared/redis.js';
import { silentLogger } from '../../src/shared/logger.js';
import { freePort, waitForPort } from './net.js';

export const TEST_TOKEN = 'test-service-token-0123456789abcdef';

export function uniq(prefix = 't'): string {
  return `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
}

export function redisSettings(): RedisSettings {
  return { host: inject('redisHost'), port: inject('redisPort'), password: undefined, tls: false, tlsVerify: true, db: 0, cluster: false };
}

export function redisEnv(): Env {
  return { LISTENERS_REDIS_HOST: inject('redisHost'), LISTENERS_REDIS_PORT: String(inject('redisPort')) };
}

/** A real connection to the test redis-server; close it in afterAll. */
export async function testRedis(name = 'test'): Promise<RedisHandle> {
  const h = createRedis({ settings: redisSettings(), name, logger: silentLogger() });
  await waitReady(h.client);
  return h;
}

/** A valid Config on the test Redis with the test token, plus overrides. */
export async function testConfig(overrides: Env = {}): Promise<Config> {
  const res = await loadConfig({
    LISTENERS_SERVICE_TOKEN: TEST_TOKEN,
    LOG_LEVEL: 'silent',
    FIREBASE_PROJECT_ID: 'demo-test',
    PORT: '0',
    ...redisEnv(),
    ...overrides,
  });
  if (!res.ok) throw new Error(`test config invalid: ${res.problems.join('; ')}`);
  return res.config;
}

export interface FirestoreEmulator {
  host: string;
  server: FirestoreServer;
  stop(): void;
}

/**
 * The in-process Firestore emulator on a free port; sets FIRESTORE_EMULATOR_HOST for this test
 * file's process (each vitest file runs in its own fork).
 */
export async function startFirestore(): Promise<FirestoreEmulator> {
  const port = await freePort();
  const server = new FirestoreServer();
  await server.start(port);
  await waitForPort(port, 10000);
  const host = `127.0.0.1:${port}`;
  process.env.FIRESTORE_EMULATOR_HOST = host;
  return { host, server, stop: () => server.stop() };
}

/** Polls a condition until it holds (or throws after timeoutMs); never a fixed sleep. */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 10000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Subscribes to Redis channels and collects parsed messages, with an awaitable `next`. */
export async function collectChannel(channels: string[]): Promise<{
  messages: Array<Record<string, unknown>>;
  /** Each message with the channel it arrived on. */
  from: Array<{ channel: string; message: Record<string, unknown> }>;
  next(pred: (m: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}> {
  const h = createRedis({ settings: redisSettings(), name: 'test-sub', logger: silentLogger() });
  await waitReady(h.client);
  const messages: Array<Record<string, unknown>> = [];
  const from: Array<{ channel: string; message: Record<string, unknown> }> = [];
  h.client.on('message', (channel: string, msg: string) => {
    const message = JSON.parse(msg) as Record<string, unknown>;
    messages.push(message);
    from.push({ channel, message });
  });
  await h.client.subscribe(...channels);
  return {
    messages,
    from,
    next: (pred, timeoutMs = 15000) => waitFor(() => messages.find(pred), timeoutMs, 'message'),
    close: () => h.close(),
  };
}
