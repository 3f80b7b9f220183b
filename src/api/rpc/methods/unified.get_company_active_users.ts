import { z } from 'zod';
import { defineMethod, id } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'UNIFIED_REGISTRY.get_company_active_users',
  description: 'User ids active in the company within the heartbeat TTL.',
  result: R.userIds,
  args: z.object({ company_id: id('company_id') }),
  handler: (a, ctx) => ctx.deps.registry.getCompanyActiveUsers(a.company_id, ctx.userId),
});
