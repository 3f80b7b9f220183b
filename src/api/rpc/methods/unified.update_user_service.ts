import { z } from 'zod';
import { defineMethod, id } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'UNIFIED_REGISTRY.update_user_service',
  description: 'Merges service_data into services[service_name] atomically; false when the user is not registered.',
  result: R.bool,
  args: z.object({
    user_id: id('user_id'),
    service_name: id('service_name'),
    service_data: z.record(z.string().max(128), z.unknown(), { error: 'service_data must be an object' }),
  }),
  handler: (a, ctx) => ctx.deps.registry.updateUserService(a.user_id, a.service_name, a.service_data),
});
