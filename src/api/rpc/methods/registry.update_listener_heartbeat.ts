import { z } from 'zod';
import { defineMethod } from '../types.js';
import { listenerService } from '../services.js';
import { listenerArgs } from '../listenerArgs.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'REGISTRY.update_listener_heartbeat',
  result: R.bool,
  description: 'Refreshes a listener heartbeat; false when the listener does not exist.',
  // The Reflex side repeats this call with a deterministic idempotency key: a replay would renew nothing.
  skipIdempotency: true,
  args: z.object(listenerArgs),
  handler: (a, ctx) => listenerService(ctx.deps).updateListenerHeartbeat(a),
});
