import { z } from 'zod';
import { invalidArgs } from '../../../shared/errors.js';
import { defineMethod } from '../types.js';
import { listenerService } from '../services.js';
import { listenerArgs } from '../listenerArgs.js';

export default defineMethod({
  name: 'REGISTRY.register_listener',
  description: 'Registers a listener (Firestore listeners_active); chat and workflow start their watcher.',
  args: z.object({ ...listenerArgs, mode: z.string().max(64).nullish().transform((v) => v ?? null) }),
  handler: (a, ctx) => {
    if (a.listener_type === 'chat' && (a.space_code === null || a.thread_key === null)) throw invalidArgs('space_code, thread_key: chat listeners need both');
    return listenerService(ctx.deps).registerListener(a);
  },
});
