import type { FastifyInstance } from 'fastify';
import type { Env } from '../../src/config/load.js';
import { buildApi, type BuildApiOptions } from '../../src/api/buildApi.js';
import { createCore, type Core, type CoreOptions } from '../../src/core.js';
import type { Flags } from '../../src/flags/flags.js';
import { createFirebase } from '../../src/shared/firebase.js';
import { silentLogger, type Logger } from '../../src/shared/logger.js';
import { waitReady } from '../../src/shared/redis.js';
import { TEST_TOKEN, testConfig, uniq } from './env.js';

export interface TestService {
  core: Core;
  app: FastifyInstance;
  /** POST /rpc with the test token; returns status, headers and parsed body. */
  rpc(method: string, body?: Record<string, unknown>, opts?: { token?: string | null }): Promise<{ status: number; headers: Record<string, unknown>; body: any; raw: string }>;
  close(): Promise<void>;
}

/**
 * A real service core (real Redis, real firebase-admin on the emulator whose host is in
 * FIRESTORE_EMULATOR_HOST) with the HTTP app, not listening: requests go through app.inject().
 */
export async function startTestService(
  o: {
    env?: Env;
    flags?: Flags;
    logger?: Logger;
    api?: BuildApiOptions;
    /** The optional parts built into the core (queues, listeners, extra checks), as main.ts chooses them by role. */
    core?: Pick<CoreOptions, 'tasks' | 'listeners' | 'listenerOptions' | 'checks'>;
  } = {},
): Promise<TestService> {
  const config = await testConfig({ INSTANCE_ID: uniq('inst'), ...o.env });
  const logger = o.logger ?? silentLogger();
  const firebase = createFirebase(config.firebase);
  const core = createCore({ config, logger, firebase, flags: o.flags, masterSwitchPollMs: 50, ...o.core });
  await waitReady(core.redis.client, 3000).catch(() => undefined); // a test may point at a dead Redis on purpose
  const app = buildApi(core.deps, o.api);
  await app.ready();
  return {
    core,
    app,
    async rpc(method, body = {}, opts = {}) {
      const token = opts.token === undefined ? TEST_TOKEN : opts.token;
      const res = await app.inject({
        method: 'POST',
        url: '/rpc',
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
        payload: { api_version: 'v1', method, idempotency_key: uniq('k'), ...body },
      });
      return { status: res.statusCode, headers: res.headers, body: res.json(), raw: res.body };
    },
    async close() {
      await app.close();
      await core.lifecycle.close(5000);
    },
  };
}
