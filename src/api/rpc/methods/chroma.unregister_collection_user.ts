import { z } from 'zod';
import { chromaRegistry, mirrorChroma } from '../chroma.js';
import { defineMethod, id } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'CHROMA_VECTOR.unregister_collection_user',
  result: R.chromaUnregister,
  description: 'Removes a collection registration: {user_id, collection_name, unregistered} (false when there was none). Unified mode: removed from services.chroma.collections.',
  // The Reflex side repeats this call with a deterministic idempotency key: a replay would renew nothing.
  skipIdempotency: true,
  args: z.object({ user_id: id('user_id'), collection_name: id('collection_name') }),
  handler: async (a, ctx) => {
    const removed = await chromaRegistry(ctx).unregister(a.user_id, a.collection_name);
    await mirrorChroma(ctx, a.user_id, a.collection_name, 'remove');
    return { user_id: a.user_id, collection_name: a.collection_name, unregistered: removed };
  },
});
