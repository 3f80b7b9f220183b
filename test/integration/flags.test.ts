import { createServer, type Server } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { createUnleashFlags } from '../../src/flags/unleash.js';
import { createRegistryModeDecider } from '../../src/flags/registryMode.js';
import { UNIFIED_REGISTRY_FLAG } from '../../src/flags/flags.js';
import { silentLogger } from '../../src/shared/logger.js';
import { waitFor } from '../helpers/env.js';
import { freePort } from '../helpers/net.js';

/** A stand-in for the Unleash server's client API (the real server cannot run here). */
function unleashStub(port: number, state: { userIds: string; enabled: boolean; fetches: number }): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url?.includes('/client/features')) {
      state.fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          version: 2,
          features: [
            {
              name: UNIFIED_REGISTRY_FLAG,
              enabled: state.enabled,
              strategies: [{ name: 'userWithId', parameters: { userIds: state.userIds }, constraints: [] }],
            },
          ],
        }),
      );
      return;
    }
    req.resume();
    res.writeHead(202).end();
  });
  return new Promise((r) => server.listen(port, '127.0.0.1', () => r(server)));
}

const servers: Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

describe('Unleash flags', () => {
  it('cold start with Unleash unreachable evaluates to off (bootstrap), never throws', async () => {
    const port = await freePort();
    const flags = createUnleashFlags({ url: `http://127.0.0.1:${port}/api`, apiToken: 't', appName: 'test' }, silentLogger(), { refreshInterval: 100, disableMetrics: true });
    try {
      expect(flags.isEnabled(UNIFIED_REGISTRY_FLAG, { userId: 'alice' })).toBe(false);
      const decider = createRegistryModeDecider({ envSwitch: true, flags, logger: silentLogger() });
      expect(decider.modeFor('alice').mode).toBe('legacy');
      await decider.close();
    } finally {
      await flags.close();
    }
  });

  it('targets users by id, and a change on the server is seen without restart', async () => {
    const port = await freePort();
    const state = { userIds: 'alice', enabled: true, fetches: 0 };
    servers.push(await unleashStub(port, state));
    const flags = createUnleashFlags({ url: `http://127.0.0.1:${port}/api`, apiToken: 't', appName: 'test' }, silentLogger(), { refreshInterval: 100, disableMetrics: true });
    const decider = createRegistryModeDecider({ envSwitch: true, flags, logger: silentLogger() });
    try {
      await waitFor(() => flags.isEnabled(UNIFIED_REGISTRY_FLAG, { userId: 'alice' }), 10000, 'toggle fetched');
      expect(decider.modeFor('alice').mode).toBe('unified');
      expect(decider.modeFor('bob').mode).toBe('legacy');
      state.userIds = 'alice,bob';
      await waitFor(() => decider.modeFor('bob').mode === 'unified', 10000, 'widened rollout');
      state.enabled = false;
      await waitFor(() => decider.modeFor('alice').mode === 'legacy', 10000, 'toggle off');
      // The env master switch off wins over Unleash at once.
      state.enabled = true;
      await waitFor(() => decider.modeFor('alice').mode === 'unified', 10000, 'toggle on again');
      const off = createRegistryModeDecider({ envSwitch: false, flags, logger: silentLogger() });
      expect(off.modeFor('alice')).toEqual({ mode: 'legacy', reason: 'master switch off' });
      await off.close();
    } finally {
      await decider.close();
      await flags.close();
    }
  });
});
