import { z } from 'zod';
import { defineMethod, id } from '../types.js';
import * as R from '../results.js';

export default defineMethod({
  name: 'UNIFIED_REGISTRY.register_user_session',
  description: 'Registers a session with its company context; returns the user document.',
  result: R.userDocument,
  args: z.object({
    user_id: id('user_id'),
    session_id: id('session_id'),
    company_id: id('company_id'),
    authorized_companies: z.array(id('authorized_companies[]')).max(1000).nullish().transform((v) => v ?? []),
    backend_route: z.string().max(512).nullish().transform((v) => v ?? null),
  }),
  handler: (a, ctx) =>
    ctx.deps.registry.registerUserSession({
      userId: a.user_id,
      sessionId: a.session_id,
      companyId: a.company_id,
      authorizedCompanies: a.authorized_companies,
      backendRoute: a.backend_route,
    }),
});
