import { z } from 'zod';
import { defineMethod, id } from '../types.js';
import { listenerService } from '../services.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'REGISTRY.list_user_listeners',
  result: R.listUserListeners,
  description: "The user's listeners (expired ones only when include_expired).",
  args: z.object({ user_id: id('user_id'), include_expired: z.boolean().default(false) }),
  handler: (a, ctx) => listenerService(ctx.deps).listUserListeners(a),
});
