import { z } from 'zod';
import { defineMethod } from '../types.js';
import { listenerService } from '../services.js';
import { listenerArgs, requireChatScope } from '../listenerArgs.js';

export default defineMethod({
  name: 'REGISTRY.register_listener',
  description: 'Registers a listener (Firestore listeners_active); chat and workflow start their watcher.',
  args: z.object({ ...listenerArgs, mode: z.string().max(64).nullish().transform((v) => v ?? null) }),
  handler: (a, ctx) => {
    const args = requireChatScope(a); // argument errors before availability
    return listenerService(ctx.deps).registerListener(args);
  },
});
