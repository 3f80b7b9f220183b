import { z } from 'zod';
import { defineMethod } from '../types.js';
import { listenerService } from '../services.js';
import { listenerArgs, requireChatScope } from '../listenerArgs.js';

export default defineMethod({
  name: 'REGISTRY.update_listener_heartbeat',
  description: 'Refreshes a listener heartbeat.',
  args: z.object(listenerArgs),
  handler: (a, ctx) => {
    const args = requireChatScope(a); // argument errors before availability
    return listenerService(ctx.deps).updateListenerHeartbeat(args);
  },
});
