import { z } from 'zod';
import { defineMethod, id } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'UNIFIED_REGISTRY.get_user_registry',
  description: 'The user document, or null.',
  result: R.userDocument.nullable(),
  args: z.object({ user_id: id('user_id') }),
  handler: (a, ctx) => ctx.deps.registry.getUserRegistry(a.user_id),
});
