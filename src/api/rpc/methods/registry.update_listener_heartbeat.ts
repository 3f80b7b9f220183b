import { z } from 'zod';
import { defineMethod } from '../types.js';
import { listenerService } from '../services.js';
import { listenerArgs, requireChatScope } from '../listenerArgs.js';

export default defineMethod({
  name: 'REGISTRY.update_listener_heartbeat',
  description: 'Refreshes a listener heartbeat.',
  args: z.object(listenerArgs),
  handler: (a, ctx) => listenerService(ctx.deps).updateListenerHeartbeat(requireChatScope(a)),
});
