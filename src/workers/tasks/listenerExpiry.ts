import { z } from 'zod';
import { defineTask } from './types.js';

/**
 * Scheduled every 60 s: expires stale listener documents through the listener service
 * (`deps.listeners.expireStaleListeners`, src/listeners). A process without the listener service
 * (a pure `worker`) does nothing and says so in the job result; nothing is pretended.
 */
export default defineTask({
  name: 'listener_expiry',
  queue: 'maintenance',
  tracked: false,
  options: { attempts: 2, backoffMs: 2000, maxDurationSeconds: 50, priority: 'low' },
  payload: z.looseObject({}),
  async process(_input, ctx) {
    const expire = ctx.deps.service.listeners?.expireStaleListeners?.bind(ctx.deps.service.listeners);
    if (!expire) {
      ctx.logger.debug('listener expiry skipped: the listener service is not configured in this process');
      return { ran: false, expired: 0, reason: 'listener service not configured in this process' };
    }
    const expired = await expire();
    return { ran: true, expired };
  },
});
