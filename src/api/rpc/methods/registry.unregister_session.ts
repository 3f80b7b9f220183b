import { z } from 'zod';
import { defineMethod, id } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'REGISTRY.unregister_session',
  description: 'Removes a session (no keyspace scan); true when a session was removed.',
  result: R.bool,
  args: z.object({ session_id: id('session_id') }),
  handler: (a, ctx) => ctx.deps.registry.unregisterSession(a.session_id, ctx.userId),
});
