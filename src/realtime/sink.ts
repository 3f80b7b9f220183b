import type { EventEnvelope } from '../shared/events.js';

/** The transport-specific half of a connection (socket.io socket or raw WebSocket). */
export interface ConnectionTransport {
  readonly kind: 'socket.io' | 'ws';
  /** True when the outbound buffer is above its bound (the client is not keeping up). */
  overLimit(): boolean;
  send(env: EventEnvelope, raw: string): void;
  disconnect(reason: string): void;
  /** Events this connection takes (default all); e.g. /ws without `?deltas=1` skips notif.add/update/remove. */
  accepts?(env: EventEnvelope): boolean;
}

export interface SinkLimits {
  /** Consecutive drops after which a slow client is disconnected (it can reconnect and replay). */
  maxConsecutiveDrops: number;
  /** Live events held while a replay runs; beyond this the connection is closed. */
  maxReplayBuffer: number;
  /** Event ids remembered per connection to suppress duplicates between replay and live. */
  recentIds: number;
}

export const DEFAULT_SINK_LIMITS: SinkLimits = { maxConsecutiveDrops: 200, maxReplayBuffer: 5000, recentIds: 512 };

/**
 * A 53-bit hash of an event id: two independent 32-bit FNV-1a style passes (different offsets
 * and multipliers), 21 bits of one joined to 32 of the other. Used only to recognise ids this
 * connection already sent; with at most `recentIds` (512) remembered, two different ids colliding
 * is about one chance in 10^13 per event.
 */
export function idHash(id: string): number {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a ^= a >>> 13;
  a = Math.imul(a, 0xc2b2ae35);
  a ^= a >>> 16;
  return (b & 0x1fffff) * 0x100000000 + (a >>> 0);
}

/**
 * The last `capacity` ids a connection sent, as hashes in a ring (8 bytes each, grown on demand up
 * to `capacity`): a Set of the id strings cost ~90 bytes per id, ~45 KiB on every long-lived socket.
 * The ring is a plain array of doubles (V8 stores them unboxed, 8 bytes each): a Float64Array
 * costs ~180 bytes more per connection in its view and ArrayBuffer objects.
 */
class SentIds {
  private ring: number[];
  private count = 0;
  private next = 0;

  constructor(private readonly capacity: number) {
    this.ring = zeros(Math.min(8, capacity));
  }

  /** Whether `h` (an idHash) is among the remembered ids. */
  has(h: number): boolean {
    const n = Math.min(this.count, this.ring.length);
    for (let i = 0; i < n; i++) if (this.ring[i] === h) return true;
    return false;
  }

  add(h: number): void {
    if (this.count === this.ring.length && this.ring.length < this.capacity) {
      const bigger = zeros(Math.min(this.capacity, this.ring.length * 2));
      for (let i = 0; i < this.ring.length; i++) bigger[i] = this.ring[i]!;
      this.next = this.ring.length;
      this.ring = bigger;
    }
    this.ring[this.next] = h;
    this.next = (this.next + 1) % this.ring.length;
    if (this.count < this.ring.length) this.count += 1;
  }
}

/** A packed array of `n` zeros (exactly `n` slots, no spare capacity). */
function zeros(n: number): number[] {
  return Array.from({ length: n }, () => 0);
}

export interface SinkObserver {
  delivered(kind: string): void;
  dropped(kind: string, reason: string): void;
  slowDisconnect(kind: string, reason: string): void;
}

/** Receives the events of one uid from the per-node channel registry. */
export interface EventSink {
  deliver(env: EventEnvelope, raw: string): void;
}

/**
 * Per-connection delivery (bounded, never blocking others): an event is written only when the
 * transport's outbound buffer is under its bound, otherwise it is dropped for this connection and
 * counted; after `maxConsecutiveDrops` drops in a row the connection is closed with a logged reason
 * (the client reconnects with its last event id and replays what it missed). While a replay runs,
 * live events are held and released afterwards, skipping ids already sent.
 */
export class ConnectionSink implements EventSink {
  private replaying = 0;
  /** Live events held during a replay (created when the first one arrives). */
  private held: Array<{ env: EventEnvelope; raw: string | undefined }> | undefined;
  private readonly recent: SentIds;
  private consecutiveDrops = 0;
  private closed = false;

  constructor(
    private readonly transport: ConnectionTransport,
    private readonly limits: SinkLimits,
    private readonly observer: SinkObserver,
  ) {
    this.recent = new SentIds(Math.max(1, limits.recentIds));
  }

  deliver(env: EventEnvelope, raw: string): void {
    if (this.closed) return;
    if (this.transport.accepts && !this.transport.accepts(env)) return;
    if (this.replaying > 0) {
      const held = (this.held ??= []);
      if (held.length >= this.limits.maxReplayBuffer) {
        this.close(`replay buffer overflow (${held.length} live events held)`);
        return;
      }
      held.push({ env, raw });
      return;
    }
    this.write(env, raw);
  }

  /** Writes one event now (replay, sync); returns false when it was dropped or a duplicate. */
  write(env: EventEnvelope, raw?: string): boolean {
    if (this.closed) return false;
    if (this.transport.accepts && !this.transport.accepts(env)) return false;
    const h = idHash(env.event_id);
    if (this.recent.has(h)) return false;
    if (this.transport.overLimit()) {
      this.consecutiveDrops += 1;
      this.observer.dropped(this.transport.kind, 'slow_client');
      if (this.consecutiveDrops >= this.limits.maxConsecutiveDrops) this.close(`slow client: ${this.consecutiveDrops} events dropped in a row`);
      return false;
    }
    this.consecutiveDrops = 0;
    this.transport.send(env, raw ?? JSON.stringify(env));
    this.recent.add(h);
    this.observer.delivered(this.transport.kind);
    return true;
  }

  /**
   * Runs `work` with live delivery held back; `work` writes replayed/sync events through
   * `write`. Held live events are then released in arrival order, duplicates skipped.
   */
  async withHeldLive<T>(work: () => Promise<T>): Promise<T> {
    this.replaying += 1;
    try {
      return await work();
    } finally {
      this.replaying -= 1;
      if (this.replaying === 0) {
        const held = this.held;
        this.held = undefined;
        if (held) for (const h of held) this.write(h.env, h.raw);
      }
    }
  }

  hasSent(eventId: string): boolean {
    return this.recent.has(idHash(eventId));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Marks the sink closed (no more writes); `reason` set = we close the transport ourselves. */
  close(reason?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.held = undefined;
    if (reason !== undefined) {
      this.observer.slowDisconnect(this.transport.kind, reason);
      this.transport.disconnect(reason);
    }
  }
}
