import { z } from 'zod';
import { defineMethod, id, optionalId } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'REGISTRY.register_user',
  description: 'Marks a user online for a session (unified or legacy registry per flag); writes Firestore presence.',
  result: R.registerUser,
  args: z.object({
    user_id: id('user_id'),
    session_id: id('session_id'),
    backend_route: z.string().max(512, 'backend_route must be at most 512 characters').nullish().transform((v) => v ?? null),
  }),
  handler: (a, ctx) => ctx.deps.registry.registerUser(a.user_id, a.session_id, a.backend_route),
});
