import { z } from 'zod';
import { invalidArgs } from '../../../shared/errors.js';
import { defineMethod } from '../types.js';
import { listenerService } from '../services.js';
import { listenerArgs } from '../listenerArgs.js';

export default defineMethod({
  name: 'REGISTRY.unregister_listener',
  description: 'Removes a listener; stops its chat/workflow watcher when it was the last.',
  args: z.object(listenerArgs),
  handler: (a, ctx) => {
    if (a.listener_type === 'chat' && (a.space_code === null || a.thread_key === null)) throw invalidArgs('space_code, thread_key: chat listeners need both');
    return listenerService(ctx.deps).unregisterListener(a);
  },
});
