/**
 * Timing knobs of the listeners (production defaults). Tests pass small values; nothing here is
 * read from the environment (main.ts owns that).
 */
export interface ListenerOptions {
  /** How often presence expiry is re-evaluated without any document change (ms). */
  expiryCheckMs: number;
  /** Delay between a user going offline and their watchers being detached (ms). */
  detachGraceMs: number;
  /** Lease time-to-live: another instance takes a dead owner's users within this (ms). */
  leaseTtlMs: number;
  /** Lease renewal period (ms); well below leaseTtlMs. */
  leaseRenewMs: number;
  /** How often online users that nobody (visibly) owns are retried (ms). */
  leaseRetryMs: number;
  /**
   * Fair-share slack: an instance holds at most ceil(online / live instances) × (1 + leaseSlack)
   * users (at least one more than the even share), so the instances together always have room.
   */
  leaseSlack: number;
  /**
   * Which live-instance set this instance counts itself in for the fair share: instances of one
   * deployment (same Firestore) must share it. Empty: the Firebase project id (plus the emulator
   * host when one is used).
   */
  instanceGroup: string;
  /** Safety-net period for re-reading each owned user's watcher requests (ms). */
  reconcileMs: number;
  /** Re-attach backoff of a failing watcher: first delay and cap (ms), with ±50 % jitter. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /**
   * Period of the stale-listener expiry run by the listener instances themselves (one instance per
   * period, Redis lock), besides the scheduler's `listener_expiry` job, which only acts in a
   * process that has the listener service; 0 turns it off.
   */
  expiryJobMs: number;
}

export const DEFAULT_LISTENER_OPTIONS: Readonly<ListenerOptions> = Object.freeze({
  expiryCheckMs: 5_000,
  detachGraceMs: 15_000,
  leaseTtlMs: 15_000,
  leaseRenewMs: 5_000,
  leaseRetryMs: 3_000,
  leaseSlack: 0.1,
  instanceGroup: '',
  reconcileMs: 30_000,
  backoffBaseMs: 500,
  backoffMaxMs: 30_000,
  expiryJobMs: 60_000,
});

export function listenerOptions(o: Partial<ListenerOptions> = {}): ListenerOptions {
  const merged = { ...DEFAULT_LISTENER_OPTIONS, ...o };
  if (merged.leaseRenewMs >= merged.leaseTtlMs) throw new Error('leaseRenewMs must be below leaseTtlMs');
  if (!(merged.leaseSlack >= 0)) throw new Error('leaseSlack must be >= 0');
  return merged;
}
