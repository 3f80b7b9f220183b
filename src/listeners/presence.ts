import { Timestamp, type Firestore, type QuerySnapshot } from 'firebase-admin/firestore';
import type { Logger } from '../shared/logger.js';
import { ResilientWatch } from './resilient.js';

export const PRESENCE_COLLECTION = 'listeners_registry';

export interface PresenceEntry {
  status: string;
  /** heartbeat_at in epoch ms; undefined when missing or unreadable (never online then). */
  heartbeatMs: number | undefined;
  ttlSeconds: number;
  companies: string[];
}

/** Reads a `listeners_registry/{uid}` document; a legacy string heartbeat is accepted with a warning. */
export function parsePresence(d: Record<string, unknown>, defaultTtlSeconds: number, onLegacy?: () => void): PresenceEntry {
  let heartbeatMs: number | undefined;
  const hb = d.heartbeat_at;
  if (hb instanceof Timestamp) heartbeatMs = hb.toMillis();
  else if (hb instanceof Date) heartbeatMs = hb.getTime();
  else if (typeof hb === 'string') {
    const t = Date.parse(hb);
    if (!Number.isNaN(t)) heartbeatMs = t;
    onLegacy?.();
  }
  const ttl = typeof d.ttl_seconds === 'number' && d.ttl_seconds > 0 ? d.ttl_seconds : defaultTtlSeconds;
  const companies = Array.isArray(d.authorized_companies_ids) ? d.authorized_companies_ids.filter((x): x is string => typeof x === 'string') : [];
  return { status: typeof d.status === 'string' ? d.status : '', heartbeatMs, ttlSeconds: ttl, companies };
}

/** CONTRACT §7: online when status is "online" and the heartbeat is at most ttl_seconds old. */
export function isOnline(e: PresenceEntry | undefined, now: number): boolean {
  return e !== undefined && e.status === 'online' && e.heartbeatMs !== undefined && now - e.heartbeatMs <= e.ttlSeconds * 1000;
}

export interface PresenceWatcherOptions {
  firestore: Firestore;
  defaultTtlSeconds: number;
  expiryCheckMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  logger: Logger;
  onOnline(uid: string): void;
  onOffline(uid: string): void;
  /** The presence document of an online user changed its authorized companies. */
  onCompanies?(uid: string, companies: string[]): void;
  onAttached?: (delta: 1 | -1) => void;
  onReattach?: () => void;
}

/**
 * Watches `listeners_registry` (status == "online") and turns documents into online/offline
 * transitions. Expiry is re-evaluated every `expiryCheckMs`, so a user whose heartbeats stop goes
 * offline without any document change.
 */
export class PresenceWatcher {
  private readonly entries = new Map<string, PresenceEntry>();
  private readonly online = new Set<string>();
  private readonly legacyWarned = new Set<string>();
  private readonly watch: ResilientWatch;
  private timer: NodeJS.Timeout | undefined;
  private firstSnapshot: Promise<void>;
  private resolveFirst!: () => void;

  constructor(private readonly o: PresenceWatcherOptions) {
    this.firstSnapshot = new Promise((r) => (this.resolveFirst = r));
    this.watch = new ResilientWatch({
      kind: 'presence',
      backoffBaseMs: o.backoffBaseMs,
      backoffMaxMs: o.backoffMaxMs,
      logger: o.logger,
      onAttached: o.onAttached,
      onReattach: o.onReattach,
      attach: (cb) => {
        let first = true;
        return o.firestore
          .collection(PRESENCE_COLLECTION)
          .where('status', '==', 'online')
          .onSnapshot(
            (snap) => {
              cb.onHealthy();
              this.apply(snap, first);
              first = false;
              this.resolveFirst();
            },
            (err) => cb.onError(err),
          );
      },
    });
  }

  /** Starts watching; resolves after the first snapshot (or after `timeoutMs`). */
  async start(timeoutMs = 10_000): Promise<void> {
    this.watch.start();
    this.timer = setInterval(() => this.sweep(), this.o.expiryCheckMs);
    this.timer.unref?.();
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.firstSnapshot, new Promise<void>((r) => (t = setTimeout(r, timeoutMs)))]);
    if (t) clearTimeout(t);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.watch.stop();
  }

  entry(uid: string): PresenceEntry | undefined {
    return this.entries.get(uid);
  }

  isOnline(uid: string): boolean {
    return this.online.has(uid);
  }

  onlineUsers(): string[] {
    return [...this.online];
  }

  private apply(snap: QuerySnapshot, full: boolean) {
    const touched = new Set<string>();
    if (full) {
      const present = new Set(snap.docs.map((d) => d.id));
      for (const uid of this.entries.keys()) {
        if (present.has(uid)) continue;
        this.entries.delete(uid);
        touched.add(uid);
      }
      for (const d of snap.docs) {
        this.set(d.id, d.data());
        touched.add(d.id);
      }
    } else {
      for (const ch of snap.docChanges()) {
        touched.add(ch.doc.id);
        if (ch.type === 'removed') this.entries.delete(ch.doc.id);
        else this.set(ch.doc.id, ch.doc.data());
      }
    }
    const now = Date.now();
    for (const uid of touched) this.evaluate(uid, now);
  }

  private set(uid: string, data: Record<string, unknown>) {
    const prev = this.entries.get(uid);
    const e = parsePresence(data, this.o.defaultTtlSeconds, () => {
      if (this.legacyWarned.has(uid)) return;
      this.legacyWarned.add(uid);
      this.o.logger.warn({ uid }, 'presence heartbeat_at is a string (legacy writer); accepted, but it should be a Timestamp');
    });
    this.entries.set(uid, e);
    if (prev && this.online.has(uid) && prev.companies.join('\u0000') !== e.companies.join('\u0000')) this.o.onCompanies?.(uid, e.companies);
  }

  private evaluate(uid: string, now: number) {
    const on = isOnline(this.entries.get(uid), now);
    if (on === this.online.has(uid)) return;
    if (on) {
      this.online.add(uid);
      this.o.onOnline(uid);
    } else {
      this.online.delete(uid);
      this.o.onOffline(uid);
    }
  }

  /** Timer: expiry without document changes. */
  sweep(now = Date.now()): void {
    for (const uid of this.online) this.evaluate(uid, now);
    // Entries that became fresh without a change cannot happen (a fresher heartbeat is a change).
  }
}
