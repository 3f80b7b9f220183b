import { z } from 'zod';
import { defineMethod } from '../types.js';
import { listenerService } from '../services.js';
import { listenerArgs } from '../listenerArgs.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'REGISTRY.unregister_listener',
  result: R.unregisterListener,
  description: 'Removes a listener; stops its chat/workflow watcher when it was the last.',
  args: z.object(listenerArgs),
  handler: (a, ctx) => listenerService(ctx.deps).unregisterListener(a),
});
