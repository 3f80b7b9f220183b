import { z } from 'zod';
import { defineMethod } from '../types.js';
import { listenerService } from '../services.js';
import { listenerArgs } from '../listenerArgs.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'REGISTRY.check_listener_status',
  result: R.checkListenerStatus,
  description: 'Status of one listener (active, expired, zombie or not_found) with its channel_name, as the original.',
  args: z.object(listenerArgs),
  handler: (a, ctx) => listenerService(ctx.deps).checkListenerStatus(a),
});
