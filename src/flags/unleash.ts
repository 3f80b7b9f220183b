import { Unleash, type UnleashConfig } from 'unleash-client';
import type { UnleashSettings } from '../config/schema.js';
import type { Logger } from '../shared/logger.js';
import { UNIFIED_REGISTRY_FLAG, type FlagContext, type Flags } from './flags.js';

/**
 * Unleash-backed flags. The SDK polls in the background and evaluates locally, so `isEnabled` is a
 * memory read. A bootstrap declares `unified-registry` off so that a cold start (Unleash not yet
 * reached, or unreachable) evaluates safely to the legacy path instead of throwing.
 * Errors are logged, never thrown (DESIGN: background parts emit errors).
 */
export function createUnleashFlags(
  settings: UnleashSettings,
  logger: Logger,
  extra: Partial<UnleashConfig> = {},
): Flags & { ready: Promise<void> } {
  const client = new Unleash({
    url: settings.url,
    appName: settings.appName,
    customHeaders: settings.apiToken ? { Authorization: settings.apiToken } : {},
    refreshInterval: 10_000,
    metricsInterval: 60_000,
    disableMetrics: false,
    bootstrap: {
      data: [
        {
          name: UNIFIED_REGISTRY_FLAG,
          enabled: false,
          strategies: [{ name: 'default', parameters: {}, constraints: [] }],
          impressionData: false,
        },
      ],
    },
    bootstrapOverride: false,
    ...extra,
  });
  client.on('error', (err: Error) => logger.warn({ err: err.message }, 'unleash error'));
  client.on('warn', (msg: string) => logger.debug({ msg }, 'unleash warning'));
  const ready = new Promise<void>((resolve) => {
    client.once('ready', () => resolve());
    client.once('synchronized', () => resolve());
  });
  return {
    ready,
    isEnabled(name: string, ctx: FlagContext = {}) {
      return client.isEnabled(name, ctx.userId ? { userId: ctx.userId } : {}, () => false);
    },
    close() {
      client.destroy();
      return Promise.resolve();
    },
  };
}
