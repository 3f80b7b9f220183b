import type { EventEnvelope } from '../../shared/events.js';
import type { Logger } from '../../shared/logger.js';
import type { AttachFn, ResilientWatch } from '../resilient.js';

/** What a per-user watcher gets from its session. */
export interface WatchContext {
  readonly uid: string;
  readonly logger: Logger;
  /** The user's authorized companies (from the presence document; empty = all). */
  companies(): readonly string[];
  /** Queues an event for publishing (in order, only while this instance holds the user's lease). */
  publish(event: EventEnvelope, chat?: { space: string; thread: string }): void;
  /** A re-attaching watch counted under `kind` in the metrics. */
  resilient(kind: string, attach: AttachFn): ResilientWatch;
}

export interface Watcher {
  stop(): void;
}
