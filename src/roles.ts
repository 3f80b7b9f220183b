import type { FastifyInstance } from 'fastify';
import type { Core } from './core.js';

/**
 * What each role module receives from the composition root. A module registers its own closers
 * in `core.lifecycle` (phases in core.ts) and fills the optional parts of `core.deps`
 * (`tasks`, `listeners`, `listenerCounts`, `checks`).
 */
export interface RoleContext {
  core: Core;
  /** The HTTP app, when this process serves HTTP (roles api/all); not yet listening. */
  app?: FastifyInstance;
}
