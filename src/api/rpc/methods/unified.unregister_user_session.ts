import { z } from 'zod';
import { defineMethod, id } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'UNIFIED_REGISTRY.unregister_user_session',
  description: 'Removes a session; the user goes offline when it was the current one.',
  result: R.bool,
  args: z.object({ session_id: id('session_id') }),
  handler: (a, ctx) => ctx.deps.registry.unregisterSession(a.session_id, ctx.userId, 'unregister_user_session'),
});
