import type { Database } from 'firebase-admin/database';
import type { Firestore } from 'firebase-admin/firestore';
import type { EventEnvelope, EventPublisher } from '../shared/events.js';
import type { Logger } from '../shared/logger.js';
import { specField, type WatchSpec } from './ids.js';
import type { AttachFn, ResilientWatch } from './resilient.js';
import { watchChat } from './watchers/chat.js';
import { watchDirectMessages } from './watchers/directMessages.js';
import { watchNotifications, type NotificationsWatcher } from './watchers/notifications.js';
import type { WatchContext, Watcher } from './watchers/types.js';
import { watchWorkflow } from './watchers/workflow.js';

export interface SessionDeps {
  firestore: Firestore;
  database: Database | undefined;
  publisher: EventPublisher;
  logger: Logger;
  workflowEnabled: boolean;
  /** Fencing: may this instance publish for the user right now? */
  canPublish(uid: string): Promise<boolean>;
  resilient(kind: string, attach: AttachFn): ResilientWatch;
  onSuppressed(type: string): void;
  onPublishError(type: string): void;
}

/**
 * The watchers of one user on the instance holding their lease: notifications and direct messages
 * while attached, plus the chat/workflow watchers requested in Redis. Events are published one
 * after the other in the order the watchers produced them, each after the fencing check.
 */
export class UserSession {
  private companies: readonly string[];
  private notif: NotificationsWatcher | undefined;
  private msg: (Watcher & { resync(): void }) | undefined;
  private readonly onDemand = new Map<string, { spec: WatchSpec; watcher: Watcher }>();
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly ctx: WatchContext;

  constructor(
    readonly uid: string,
    companies: readonly string[],
    private readonly d: SessionDeps,
  ) {
    this.companies = companies;
    const logger = d.logger.child({ uid });
    this.ctx = {
      uid,
      logger,
      companies: () => this.companies,
      publish: (event, chat) => this.publish(event, chat),
      resilient: (kind, attach) => d.resilient(kind, attach),
    };
  }

  start(): void {
    this.notif = watchNotifications(this.ctx, this.d.firestore);
    if (this.d.database) this.msg = watchDirectMessages(this.ctx, this.d.database);
  }

  get workflowCount(): number {
    let n = 0;
    for (const w of this.onDemand.values()) if (w.spec.kind === 'workflow') n++;
    return n;
  }

  /** Kinds of the watchers attached for this user (notifications, messages, chat, workflow…), for the operator console. */
  get watcherKinds(): string[] {
    return [...(this.notif ? ['notifications'] : []), ...(this.msg ? ['messages'] : []), ...[...this.onDemand.values()].map((w) => w.spec.kind)];
  }

  get watcherCount(): number {
    return (this.notif ? 1 : 0) + (this.msg ? 1 : 0) + this.onDemand.size;
  }

  setCompanies(companies: readonly string[]): void {
    this.companies = companies;
    this.notif?.resync();
    this.msg?.resync();
  }

  /** Brings the on-demand watchers in line with the requested set. */
  reconcile(specs: WatchSpec[]): void {
    if (this.stopped) return;
    const want = new Map<string, WatchSpec>();
    for (const s of specs) {
      if (s.kind === 'workflow' && !this.d.workflowEnabled) continue;
      if (s.kind === 'chat' && !this.d.database) continue;
      want.set(specField(s), s);
    }
    for (const [field, w] of this.onDemand) {
      if (!want.has(field)) {
        w.watcher.stop();
        this.onDemand.delete(field);
      }
    }
    for (const [field, spec] of want) {
      if (this.onDemand.has(field)) continue;
      const watcher = spec.kind === 'chat' ? watchChat(this.ctx, this.d.database!, spec) : watchWorkflow(this.ctx, this.d.firestore, spec.job);
      this.onDemand.set(field, { spec, watcher });
    }
  }

  private publish(event: EventEnvelope, chat?: { space: string; thread: string }): void {
    this.chain = this.chain.then(async () => {
      if (this.stopped) return;
      try {
        if (!(await this.d.canPublish(this.uid))) {
          this.d.onSuppressed(event.type);
          return;
        }
        await (chat ? this.d.publisher.publishChat(event, chat.space, chat.thread) : this.d.publisher.publishUser(event));
      } catch (err) {
        this.d.onPublishError(event.type);
        this.ctx.logger.warn({ type: event.type, err: (err as Error).message }, 'publish failed');
      }
    });
  }

  /** Stops every watcher; already-queued events are dropped. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.notif?.stop();
    this.msg?.stop();
    for (const w of this.onDemand.values()) w.watcher.stop();
    this.onDemand.clear();
    this.stopped = true;
  }

  /** Resolves once queued publishes are done (tests, shutdown). */
  drain(): Promise<void> {
    return this.chain;
  }
}
