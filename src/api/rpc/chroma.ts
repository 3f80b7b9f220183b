import { ChromaRegistry } from '../../registry/chromaRegistry.js';
import type { MethodContext } from './types.js';

/** The CHROMA_VECTOR registry of this process (stateless: a thin object over the main Redis). */
export function chromaRegistry(ctx: MethodContext): ChromaRegistry {
  return new ChromaRegistry(ctx.deps.redis);
}

/**
 * In unified mode the registration is mirrored into the user document's services.chroma, best
 * effort as the original: a failure is logged and counted, never the caller's error.
 */
export async function mirrorChroma(ctx: MethodContext, userId: string, collection: string, op: 'add' | 'remove', lastHeartbeat?: string): Promise<void> {
  if (ctx.deps.registry.modeFor(userId) !== 'unified') return;
  try {
    await chromaRegistry(ctx).mirror(userId, collection, op, lastHeartbeat);
  } catch (err) {
    ctx.deps.metrics.counter('chroma_mirror_failures_total', 'CHROMA_VECTOR registrations not mirrored into the unified registry').inc();
    ctx.logger.warn({ user_id: userId, collection_name: collection, err: (err as Error).message }, 'chroma: unified registry mirror failed');
  }
}
