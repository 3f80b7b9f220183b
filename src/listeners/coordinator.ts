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
 *
 * Fair share: every instance refreshes itself in a live-instance set each renewal period and holds
 * at most `ceil(online / live) + slack` users. It takes no lease beyond that and, when a new
 * instance joins, sheds its most recently attached users down to it: watchers stopped, queued
 * events published, then the lease released (the notification state stays for the next owner).
 */
export class Coordinator {
  readonly sessions = new Map<string, UserSession>();
  private readonly pendingDetach = new Map<string, NodeJS.Timeout>();
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  /** Users waiting for the next acquisition batch, and the batch loop running now (one at a time). */
  private readonly queued = new Set<string>();
  private pump: Promise<void> | undefined;
  /** Users being handed over (watchers stopping, lease not yet released). */
  private readonly shedding = new Set<string>();
  private liveInstances = 1;
  /** Excess over the fair share at the previous tick. */
  private lastExcess = 0;

  constructor(private readonly d: CoordinatorDeps) {}

  /** Live listener instances seen at the last heartbeat (at least 1: this one). */
  get instances(): number {
    return this.liveInstances;
  }

  /** At most this many users on this instance: an even share of the online users plus a slack. */
  fairShare(): number {
    const online = this.d.presence.onlineUsers().length;
    const share = Math.ceil(online / Math.max(1, this.liveInstances));
    return share + Math.max(1, Math.ceil(share * this.d.options.leaseSlack));
  }

  /** Starts the timers after a first heartbeat, so the first acquisitions already know the peers. */
  async start(): Promise<void> {
    await this.heartbeat().catch((err: Error) => this.d.logger.warn({ err: err.message }, 'listener heartbeat failed'));
    const every = (ms: number, fn: () => Promise<void>, what: string) => {
      const t = setInterval(() => void fn().catch((err: Error) => this.d.logger.warn({ err: err.message, what }, 'listener timer failed')), ms);
      t.unref?.();
      this.timers.push(t);
    };
    every(this.d.options.leaseRenewMs, () => this.renewTick(), 'lease renewal');
    every(this.d.options.leaseRetryMs, () => this.acquireOnline(), 'lease retry');
    every(this.d.options.reconcileMs, () => this.reconcileAll(), 'reconcile');
  }

  private async heartbeat(): Promise<void> {
    this.liveInstances = await this.d.leases.heartbeat();
  }

  /** Heartbeat first (its expiry never outlives our leases'), then renewals, then shed the excess. */
  private async renewTick(): Promise<void> {
    await this.heartbeat().catch((err: Error) => this.d.logger.warn({ err: err.message }, 'listener heartbeat failed'));
    await this.d.leases.renewAll();
    await this.rebalance();
  }

  /**
   * Sheds the users above the fair share, most recently attached first. Only an excess seen on two
   * ticks in a row counts (the smaller one), so a momentary dip in the presence view (a watcher
   * re-attaching) or a peer's brief appearance does not move users back and forth.
   */
  async rebalance(): Promise<void> {
    const now = this.closed || this.liveInstances < 2 ? 0 : Math.max(0, this.sessions.size - this.fairShare());
    const excess = Math.min(now, this.lastExcess);
    this.lastExcess = now;
    if (excess <= 0) return;
    const victims = [...this.sessions.keys()].reverse().slice(0, excess);
    await Promise.all(victims.map((uid) => this.shed(uid)));
  }

  /** Clean handover: watchers stopped and queued events published before the lease is released. */
  private async shed(uid: string): Promise<void> {
    const s = this.sessions.get(uid);
    if (!s || this.shedding.has(uid)) return;
    this.shedding.add(uid);
    this.sessions.delete(uid);
    try {
      await s.stopGracefully();
      this.d.onSessionsChanged();
      await this.d.leases.release(uid);
      this.d.logger.info({ uid, instances: this.liveInstances }, 'listener user handed over (fair share)');
    } catch (err) {
      this.d.logger.warn({ uid, err: (err as Error).message }, 'lease release after handover failed (expires by TTL)');
    } finally {
      this.shedding.delete(uid);
    }
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
      this.d.leases.release(uid, { forgetState: true }).catch((err: Error) => this.d.logger.warn({ uid, err: err.message }, 'lease release failed'));
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
    const candidates = this.d.presence.onlineUsers().filter((uid) => !this.sessions.has(uid) && !this.shedding.has(uid));
    if (candidates.length > 0) await this.acquire(candidates);
  }

  /**
   * Queues `uids` for acquisition; one acquisition runs at a time (the queued users go in the next
   * batch), so the room left under the fair share is always computed from settled counts.
   */
  private acquire(uids: string[]): Promise<void> {
    for (const uid of uids) this.queued.add(uid);
    this.pump ??= this.drainQueue().finally(() => {
      this.pump = undefined;
    });
    return this.pump;
  }

  private async drainQueue(): Promise<void> {
    while (this.queued.size > 0 && !this.closed) {
      const batch = [...this.queued].filter((uid) => !this.sessions.has(uid) && !this.shedding.has(uid));
      this.queued.clear();
      const room = this.fairShare() - this.d.leases.size;
      if (batch.length === 0 || room <= 0) continue;
      let got: string[];
      try {
        got = await this.d.leases.tryAcquire(batch, room);
      } catch (err) {
        this.d.logger.warn({ err: (err as Error).message }, 'lease acquisition failed');
        continue;
      }
      for (const uid of got) {
        if (this.closed || (!this.d.presence.isOnline(uid) && !this.pendingDetach.has(uid))) {
          await this.d.leases.release(uid).catch(() => undefined);
          continue;
        }
        this.attach(uid);
      }
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
    await this.d.leases.leave().catch((err: Error) => this.d.logger.warn({ err: err.message }, 'leaving the live-instance set failed'));
  }
}
