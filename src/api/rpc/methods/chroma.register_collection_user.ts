import { z } from 'zod';
import { chromaRegistry, mirrorChroma } from '../chroma.js';
import { defineMethod, id } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'CHROMA_VECTOR.register_collection_user',
  result: R.chromaRegistration,
  description:
    'Registers the user on a vector collection (registry:chroma:{uid}:{collection}, TTL 90 s): {user_id, collection_name, session_id, registered_at, last_heartbeat}. Unified mode: merged into services.chroma.collections.',
  // The Reflex side repeats this call with a deterministic idempotency key: a replay would renew nothing.
  skipIdempotency: true,
  args: z.object({ user_id: id('user_id'), collection_name: id('collection_name'), session_id: id('session_id') }),
  handler: async (a, ctx) => {
    const r = await chromaRegistry(ctx).register(a.user_id, a.collection_name, a.session_id);
    await mirrorChroma(ctx, a.user_id, a.collection_name, 'add', r.registered_at);
    return r;
  },
});
