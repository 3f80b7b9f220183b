import { z } from 'zod';
import { defineMethod, id } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'UNIFIED_REGISTRY.update_user_heartbeat',
  description: 'Refreshes the user heartbeat; false when the user is not registered.',
  result: R.bool,
  args: z.object({ user_id: id('user_id') }),
  handler: (a, ctx) => ctx.deps.registry.updateUserHeartbeat(a.user_id),
});
