import { z } from 'zod';
import { defineMethod } from '../types.js';
import { listenerService } from '../services.js';
import { listenerArgs, requireChatScope } from '../listenerArgs.js';

export default defineMethod({
  name: 'REGISTRY.check_listener_status',
  description: 'Status of one listener: active, expired or missing, with its channel.',
  args: z.object(listenerArgs),
  handler: (a, ctx) => {
    const args = requireChatScope(a); // argument errors before availability
    return listenerService(ctx.deps).checkListenerStatus(args);
  },
});
