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
  private held: Array<{ env: EventEnvelope; raw: string | undefined }> = [];
  private readonly recent = new Set<string>();
  private consecutiveDrops = 0;
  private closed = false;

  constructor(
    private readonly transport: ConnectionTransport,
    private readonly limits: SinkLimits,
    private readonly observer: SinkObserver,
  ) {}

  deliver(env: EventEnvelope, raw: string): void {
    if (this.closed) return;
    if (this.transport.accepts && !this.transport.accepts(env)) return;
    if (this.replaying > 0) {
      if (this.held.length >= this.limits.maxReplayBuffer) {
        this.close(`replay buffer overflow (${this.held.length} live events held)`);
        return;
      }
      this.held.push({ env, raw });
      return;
    }
    this.write(env, raw);
  }

  /** Writes one event now (replay, sync); returns false when it was dropped or a duplicate. */
  write(env: EventEnvelope, raw?: string): boolean {
    if (this.closed) return false;
    if (this.transport.accepts && !this.transport.accepts(env)) return false;
    if (this.recent.has(env.event_id)) return false;
    if (this.transport.overLimit()) {
      this.consecutiveDrops += 1;
      this.observer.dropped(this.transport.kind, 'slow_client');
      if (this.consecutiveDrops >= this.limits.maxConsecutiveDrops) this.close(`slow client: ${this.consecutiveDrops} events dropped in a row`);
      return false;
    }
    this.consecutiveDrops = 0;
    this.transport.send(env, raw ?? JSON.stringify(env));
    this.remember(env.event_id);
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
        this.held = [];
        for (const h of held) this.write(h.env, h.raw);
      }
    }
  }

  hasSent(eventId: string): boolean {
    return this.recent.has(eventId);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Marks the sink closed (no more writes); `reason` set = we close the transport ourselves. */
  close(reason?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.held = [];
    if (reason !== undefined) {
      this.observer.slowDisconnect(this.transport.kind, reason);
      this.transport.disconnect(reason);
    }
  }

  private remember(id: string): void {
    this.recent.add(id);
    if (this.recent.size > this.limits.recentIds) {
      const oldest = this.recent.values().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
  }
}
