import type { Database } from 'firebase-admin/database';
import type { Firestore } from 'firebase-admin/firestore';
import { FencedError, makeEvent, notificationHash, type EventEnvelope, type EventPublisher } from '../shared/events.js';
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
  /** Bound to this user's lease (EventPublisher.fenced): Redis refuses a deposed owner's publish. */
  publisher: EventPublisher;
  logger: Logger;
  workflowEnabled: boolean;
  /** Local fencing check (lease deadline), no round trip; the publish script does the real check. */
  canPublish(uid: string): boolean;
  /** Redis refused a publish: the lease moved to another owner. */
  onFenced(uid: string): void;
  /** What the previous owner last published (doc_id -> item hash), read once at the first notif.sync. */
  previousState(uid: string): Promise<Map<string, string> | undefined>;
  resilient(kind: string, attach: AttachFn): ResilientWatch;
  onSuppressed(type: string): void;
  onPublishError(type: string): void;
}

/**
 * The watchers of one user on the instance holding their lease: notifications and direct messages
 * while attached, plus the chat/workflow watchers requested in Redis. Events are published one
 * after the other in the order the watchers produced them, each fenced by the publish script.
 *
 * Takeover: the first `notif.sync` after attach is compared with the notification state the
 * previous owner published (kept in Redis by the publish script, atomically with each event), and
 * the differences go out first as `notif.add` / `notif.update` / `notif.remove`, so changes made
 * while nobody watched (owner died, handover) reach clients as deltas, not only folded into a sync.
 */
export class UserSession {
  private companies: readonly string[];
  private notif: NotificationsWatcher | undefined;
  private msg: (Watcher & { resync(): void }) | undefined;
  private readonly onDemand = new Map<string, { spec: WatchSpec; watcher: Watcher }>();
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private baselineDone = false;
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
        if (!this.d.canPublish(this.uid)) {
          this.d.onSuppressed(event.type);
          return;
        }
        if (event.type === 'notif.sync' && !this.baselineDone) {
          // Each delta also updates the stored state, so a retry after a failure here (at the next
          // sync) diffs against what did go out: nothing is sent twice.
          for (const delta of await this.takeoverDeltas(event)) await this.d.publisher.publishUser(delta);
          this.baselineDone = true;
        }
        await (chat ? this.d.publisher.publishChat(event, chat.space, chat.thread) : this.d.publisher.publishUser(event));
      } catch (err) {
        if (err instanceof FencedError) {
          this.d.onSuppressed(event.type);
          this.d.onFenced(this.uid);
          return;
        }
        this.d.onPublishError(event.type);
        this.ctx.logger.warn({ type: event.type, err: (err as Error).message }, 'publish failed');
      }
    });
  }

  /** Deltas between the previous owner's last published notifications and this first sync. */
  private async takeoverDeltas(sync: EventEnvelope): Promise<EventEnvelope[]> {
    const before = await this.d.previousState(this.uid);
    if (!before) return [];
    const list = (sync.payload as { notifications?: unknown }).notifications;
    const items = Array.isArray(list) ? (list as Array<Record<string, unknown>>) : [];
    const out: EventEnvelope[] = [];
    const seen = new Set<string>();
    for (const item of items) if (typeof item?.doc_id === 'string') seen.add(item.doc_id);
    for (const id of before.keys()) if (!seen.has(id)) out.push(makeEvent('notif.remove', this.uid, { doc_id: id }));
    // Oldest first (the sync is newest first), as the changes would have arrived.
    for (const item of [...items].reverse()) {
      const id = item?.doc_id;
      if (typeof id !== 'string') continue;
      const prev = before.get(id);
      if (prev === undefined) out.push(makeEvent('notif.add', this.uid, { ...item }));
      else if (prev !== notificationHash(item)) out.push(makeEvent('notif.update', this.uid, { ...item }));
    }
    return out;
  }

  /**
   * Handover: stops every watcher, then lets the already-queued events publish (they still carry
   * the fence), so the next owner's baseline is exactly what clients got. Idempotent.
   */
  async stopGracefully(): Promise<void> {
    this.notif?.stop();
    this.msg?.stop();
    for (const w of this.onDemand.values()) w.watcher.stop();
    this.onDemand.clear();
    await this.chain;
    this.stopped = true;
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
