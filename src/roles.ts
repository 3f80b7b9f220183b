import type { FastifyInstance } from 'fastify';
import type { Core } from './core.js';

/**
 * What each role module receives from the composition root. A module registers its own closers
 * in `core.lifecycle` (phases in src/app/phases.ts) and uses what `createCore` built (`core.deps`,
 * `core.tasks`, `core.listeners`); it never assigns to `core.deps`.
 */
export interface RoleContext {
  core: Core;
  /** The HTTP app, when this process serves HTTP (roles api/all); not yet listening. */
  app?: FastifyInstance;
}
