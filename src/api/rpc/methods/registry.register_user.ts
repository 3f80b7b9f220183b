import { z } from 'zod';
import { isoSecondsZ } from '../../../listeners/normalize.js';
import * as R from '../results.js';
import { defineMethod, id } from '../types.js';

export default defineMethod({
  name: 'REGISTRY.register_user',
  description: 'Marks a user online for a session (unified or legacy registry per flag); writes Firestore presence. last_seen_at as %Y-%m-%dT%H:%M:%SZ, as the original.',
  result: R.registerUser,
  // The Reflex side repeats this call with a deterministic idempotency key: a replay would renew nothing.
  skipIdempotency: true,
  args: z.object({
    user_id: id('user_id'),
    session_id: id('session_id'),
    backend_route: z.string().max(512, 'backend_route must be at most 512 characters').nullish().transform((v) => v ?? null),
  }),
  handler: async (a, ctx) => {
    const r = await ctx.deps.registry.registerUser(a.user_id, a.session_id, a.backend_route);
    // CONTRACT §13.2: UTC, whole seconds, `Z` (the original's strftime format).
    const seen = new Date(r.last_seen_at);
    return { ...r, last_seen_at: Number.isNaN(seen.getTime()) ? r.last_seen_at : isoSecondsZ(seen) };
  },
});
