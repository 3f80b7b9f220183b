import type { Logger } from '../shared/logger.js';
import type { LeaseManager } from './lease.js';
import type { ListenerOptions } from './options.js';
import type { PresenceWatcher } from './presence.js';
import type { UserSession } from './session.js';
import type { WantedStore } from './wanted.js';

export interface CoordinatorDeps {
  presence: PresenceWatcher;
  leases: LeaseManager;
  wanted: WantedStore;
  logger: Logger;
  options: ListenerOptions;
  newSession(uid: string, companies: readonly string[]): UserSession;
  onSessionsChanged(): void;
}

/**
 * Ties presence, leases and sessions together. Every instance sees presence; for online users it
 * does not own it tries the lease (at once, then on a timer, so a dead owner's users move within the
 * lease TTL); the holder attaches the user's watchers. Offline users are detached after a grace
 * period (a return cancels it) and their lease released; a lost lease detaches without releasing.
 */
export class Coordinator {
  readonly sessions = new Map<string, UserSession>();
  private readonly pendingDetach = new Map<string, NodeJS.Timeout>();
  private readonly timers: NodeJS.Timeout[] = [];
  private acquiring = false;
  private closed = false;

  constructor(private readonly d: CoordinatorDeps) {}

  start(): void {
    const every = (ms: number, fn: () => Promise<void>, what: string) => {
      const t = setInterval(() => fn().catch((err: Error) => this.d.logger.warn({ err: err.message, what }, 'listener timer failed')), ms);
      t.unref?.();
      this.timers.push(t);
    };
    every(this.d.options.leaseRenewMs, () => this.d.leases.renewAll(), 'lease renewal');
    every(this.d.options.leaseRetryMs, () => this.acquireOnline(), 'lease retry');
    every(this.d.options.reconcileMs, () => this.reconcileAll(), 'reconcile');
  }

  onOnline(uid: string): void {
    const t = this.pendingDetach.get(uid);
    if (t) {
      clearTimeout(t);
      this.pendingDetach.delete(uid);
    }
    if (!this.sessions.has(uid)) void this.acquire([uid]);
  }

  onOffline(uid: string): void {
    if (this.pendingDetach.has(uid) || this.closed) return;
    const t = setTimeout(() => {
      this.pendingDetach.delete(uid);
      if (this.d.presence.isOnline(uid)) return;
      this.detach(uid);
      this.d.leases.release(uid).catch((err: Error) => this.d.logger.warn({ uid, err: err.message }, 'lease release failed'));
    }, this.d.options.detachGraceMs);
    t.unref?.();
    this.pendingDetach.set(uid, t);
  }

  onCompanies(uid: string, companies: string[]): void {
    this.sessions.get(uid)?.setCompanies(companies);
  }

  /** The lease was lost (taken over or unrenewable): stop watching, do not release. */
  onLeaseLost(uid: string): void {
    this.detach(uid);
  }

  /** Control message: the user's watcher requests changed. */
  onControl(uid: string): void {
    if (this.sessions.has(uid)) void this.reconcile(uid);
  }

  /** Timer: online users without a session here; their lease may be free (owner gone). */
  async acquireOnline(): Promise<void> {
    if (this.acquiring) return;
    this.acquiring = true;
    try {
      const candidates = this.d.presence.onlineUsers().filter((uid) => !this.sessions.has(uid));
      if (candidates.length > 0) await this.acquire(candidates);
    } finally {
      this.acquiring = false;
    }
  }

  private async acquire(uids: string[]): Promise<void> {
    if (this.closed) return;
    let got: string[];
    try {
      got = await this.d.leases.tryAcquire(uids);
    } catch (err) {
      this.d.logger.warn({ err: (err as Error).message }, 'lease acquisition failed');
      return;
    }
    for (const uid of got) {
      if (this.closed || (!this.d.presence.isOnline(uid) && !this.pendingDetach.has(uid))) {
        await this.d.leases.release(uid).catch(() => undefined);
        continue;
      }
      this.attach(uid);
    }
  }

  private attach(uid: string) {
    if (this.sessions.has(uid)) return;
    const s = this.d.newSession(uid, this.d.presence.entry(uid)?.companies ?? []);
    this.sessions.set(uid, s);
    s.start();
    this.d.onSessionsChanged();
    void this.reconcile(uid);
  }

  private detach(uid: string) {
    const s = this.sessions.get(uid);
    if (!s) return;
    this.sessions.delete(uid);
    s.stop();
    this.d.onSessionsChanged();
  }

  async reconcile(uid: string): Promise<void> {
    try {
      const specs = await this.d.wanted.list(uid);
      this.sessions.get(uid)?.reconcile(specs);
      this.d.onSessionsChanged();
    } catch (err) {
      this.d.logger.warn({ uid, err: (err as Error).message }, 'reconcile failed');
    }
  }

  private async reconcileAll(): Promise<void> {
    await Promise.all([...this.sessions.keys()].map((uid) => this.reconcile(uid)));
  }

  /** Stops timers and sessions and releases this instance's leases. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const t of this.pendingDetach.values()) clearTimeout(t);
    this.pendingDetach.clear();
    for (const uid of [...this.sessions.keys()]) this.detach(uid);
    await this.d.leases.releaseAll();
  }
}
