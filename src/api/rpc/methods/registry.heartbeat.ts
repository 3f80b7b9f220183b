import { z } from 'zod';
import { defineMethod, id, optionalId } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'REGISTRY.heartbeat',
  description: 'Refreshes presence: registry TTLs and the Firestore heartbeat_at Timestamp.',
  result: R.heartbeat,
  // The Reflex side repeats this call with a deterministic idempotency key: a replay would renew nothing.
  skipIdempotency: true,
  args: z.object({ user_id: id('user_id'), session_id: optionalId('session_id') }),
  handler: (a, ctx) => ctx.deps.registry.heartbeat(a.user_id, a.session_id),
});
