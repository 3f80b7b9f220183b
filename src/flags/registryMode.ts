import type { RedisClient } from '../shared/redis.js';
import type { Logger } from '../shared/logger.js';
import { UNIFIED_REGISTRY_FLAG, type Flags } from './flags.js';

export const MASTER_SWITCH_OVERRIDE_KEY = 'flags:UNIFIED_REGISTRY_ENABLED';

export type RegistryMode = 'unified' | 'legacy';

export interface RegistryModeDecider {
  /** Per call: the master switch, then (when Unleash is configured) the per-user toggle. */
  modeFor(userId: string | undefined): { mode: RegistryMode; reason: string };
  /** The current master switch (env, unless the runtime override key says otherwise). */
  masterSwitch(): boolean;
  close(): Promise<void>;
}

/**
 * The master switch is `UNIFIED_REGISTRY_ENABLED`; because an ECS env change means a new deployment,
 * operators can also flip it at runtime with `SET flags:UNIFIED_REGISTRY_ENABLED false|true` (DEL to
 * go back to the env value). The override is polled every `pollMs` (one GET per process), so a
 * flip reaches every process within about a second, without a restart.
 */
export function createRegistryModeDecider(o: {
  envSwitch: boolean;
  flags: Flags | undefined;
  redis?: RedisClient;
  logger: Logger;
  pollMs?: number;
}): RegistryModeDecider {
  let override: boolean | undefined;
  let timer: NodeJS.Timeout | undefined;
  const poll = async () => {
    if (!o.redis) return;
    try {
      const v = await o.redis.get(MASTER_SWITCH_OVERRIDE_KEY);
      const next = v === null ? undefined : ['true', '1', 'yes', 'on'].includes(v.toLowerCase());
      if (next !== override) o.logger.info({ override: next ?? null }, 'unified registry master switch override changed');
      override = next;
    } catch (err) {
      o.logger.debug({ err: (err as Error).message }, 'master switch override poll failed; keeping last value');
    }
  };
  if (o.redis) {
    void poll();
    timer = setInterval(() => void poll(), o.pollMs ?? 1000);
    timer.unref();
  }
  const masterSwitch = () => override ?? o.envSwitch;
  return {
    masterSwitch,
    modeFor(userId) {
      if (!masterSwitch()) return { mode: 'legacy', reason: override === false ? 'override off' : 'master switch off' };
      if (!o.flags) return { mode: 'unified', reason: 'master switch on, no per-user flags' };
      const on = o.flags.isEnabled(UNIFIED_REGISTRY_FLAG, userId ? { userId } : {});
      return { mode: on ? 'unified' : 'legacy', reason: on ? 'flag on for user' : 'flag off for user' };
    },
    close() {
      if (timer) clearInterval(timer);
      return Promise.resolve();
    },
  };
}
