import { z } from 'zod';
import { chromaRegistry, mirrorChroma } from '../chroma.js';
import { defineMethod, id } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'CHROMA_VECTOR.heartbeat_collection',
  result: R.chromaHeartbeat,
  description: 'Renews a collection registration for 90 s: {user_id, collection_name, heartbeat_updated} (false when it had expired or never existed).',
  // The Reflex side repeats this call with a deterministic idempotency key: a replay would renew nothing.
  skipIdempotency: true,
  args: z.object({ user_id: id('user_id'), collection_name: id('collection_name') }),
  handler: async (a, ctx) => {
    const r = await chromaRegistry(ctx).heartbeat(a.user_id, a.collection_name);
    await mirrorChroma(ctx, a.user_id, a.collection_name, 'add', r.at);
    return { user_id: a.user_id, collection_name: a.collection_name, heartbeat_updated: r.updated };
  },
});
