import { z } from 'zod';
import { defineMethod } from '../types.js';
import { listenerService } from '../services.js';
import { listenerArgs } from '../listenerArgs.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'REGISTRY.register_listener',
  result: R.registerListener,
  description: 'Registers a listener (Firestore listeners_active); chat and workflow start their watcher. Refusals: {success:false, error:MISSING_REQUIRED_PARAM|INVALID_LISTENER_TYPE|LISTENER_ALREADY_EXISTS}.',
  args: z.object({ ...listenerArgs, mode: z.string().max(64).nullish().transform((v) => v ?? null) }),
  handler: (a, ctx) => listenerService(ctx.deps).registerListener(a),
});
