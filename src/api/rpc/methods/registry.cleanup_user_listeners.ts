import { z } from 'zod';
import { defineMethod, id } from '../types.js';
import { listenerService } from '../services.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'REGISTRY.cleanup_user_listeners',
  result: R.cleanupUserListeners,
  description: "Removes the user's listeners (all, or only the given types) and stops their watchers.",
  args: z.object({
    user_id: id('user_id'),
    listener_types: z.array(z.string().max(32, 'listener_types entries must be at most 32 characters')).max(16, 'listener_types: at most 16 entries').nullish().transform((v) => v ?? null),
  }),
  handler: (a, ctx) => listenerService(ctx.deps).cleanupUserListeners(a),
});
