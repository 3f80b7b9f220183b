import { randomBytes } from 'node:crypto';
import type { Database } from 'firebase-admin/database';
import type { Firestore } from 'firebase-admin/firestore';
import { makeEvent, type EventEnvelope } from '../shared/events.js';
import type { Logger } from '../shared/logger.js';
import type { RedisClient } from '../shared/redis.js';
import type { SocketPresence } from './presence.js';
import { anchoredEventId, historyAnchor, readHistorySince } from './replay.js';
import { ConnectionSink, type ConnectionTransport, type SinkLimits, type SinkObserver } from './sink.js';
import { authorizedCompanies, loadDirectMessages, loadNotifications, msgSyncPayload, notifSyncPayload } from './snapshots.js';
import type { UserChannels } from './subscriptions.js';

export interface ReplayAck {
  replayed: number;
  complete: boolean;
}

export interface OpenConnection {
  readonly id: string;
  readonly uid: string;
  /** Sends the events after `lastEventId` from the history (duplicates of what was sent skipped). */
  replay(lastEventId: string): Promise<ReplayAck>;
  /** The transport closed (or is closing): unsubscribe, update presence. Idempotent. */
  close(): Promise<void>;
  /** Result of the replay asked for at connect time (`last_event_id`), if any. */
  initialReplay?: ReplayAck;
}

export interface ConnectionManagerDeps {
  channels: UserChannels;
  presence: SocketPresence | undefined;
  redis: RedisClient;
  historyKey: (uid: string) => string;
  /** The history's length bound (EVENT_HISTORY_MAX_LEN): tells replay whether a window was cut. */
  historyMaxLen?: number;
  firestore: Firestore | undefined;
  database: Database | undefined;
  limits: SinkLimits;
  observer: SinkObserver;
  logger: Logger;
  onCount: (kind: string, delta: number) => void;
  /** Connect-time syncs (Firestore/RTDB reads) running at once on this node (default SYNC_CONCURRENCY). */
  syncConcurrency?: number;
}

/**
 * Connect-time syncs in flight per node. A reconnect storm (every socket of a restarted node coming
 * back at once) would otherwise start three Firestore/RTDB reads per socket together: thousands of
 * gRPC calls whose buffers all live at the same time (the fan-out bench measured ~55 KiB of native
 * memory per socket kept by the allocator after a 3,000-socket storm, against ~0 with the reads
 * queued), and a burst Firestore itself would throttle. Queued syncs only delay that socket's own
 * first snapshot; its live events are held meanwhile, as during any sync.
 */
export const SYNC_CONCURRENCY = 32;

/** At most `limit` calls of `run` in flight; the others wait in arrival order. */
export class Gate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active += 1;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter (active unchanged), or is freed.
      if (next) next();
      else this.active -= 1;
    }
  }
}

/**
 * A connection's id: its kind and 96 random bits, as one string converted from a Buffer. Node's
 * randomUUID string is a chain of about fifteen V8 cons-string pieces (~0.5 KiB of heap held for as
 * long as the connection is open, the fan-out bench's heap snapshots showed).
 */
export function connectionId(kind: string): string {
  return `${kind}:${randomBytes(12).toString('base64url')}`;
}

/** The presence bookkeeping of a connection when there is none to wait for (one promise for all). */
const SETTLED: Promise<unknown> = Promise.resolve();

/**
 * One open connection. A class rather than an object of closures: a node holds one per socket, and
 * the fan-out bench counts the heap per connection, so its methods live once on the prototype.
 */
class Connection implements OpenConnection {
  initialReplay?: ReplayAck;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly manager: ConnectionManager,
    readonly id: string,
    readonly uid: string,
    readonly kind: string,
    readonly sink: ConnectionSink,
    /** The connect-time presence bookkeeping: the disconnect's waits for it. */
    readonly presenceUp: Promise<unknown>,
  ) {}

  replay(lastEventId: string): Promise<ReplayAck> {
    return this.sink.withHeldLive(() => this.manager.replayInto(this.sink, this.uid, lastEventId));
  }

  close(): Promise<void> {
    this.closing ??= this.manager.closeConnection(this);
    return this.closing;
  }
}

/**
 * What every connection does, whatever its transport: subscribe the node to the user's channel,
 * replay missed events, send fresh syncs, then live delivery; presence bookkeeping on open/close.
 */
export class ConnectionManager {
  private readonly open = new Set<OpenConnection>();
  /** Connect-time work in flight (subscribe, replay, syncs): shutdown waits for it before the clients close. */
  private readonly attachingWork = new Set<Promise<void>>();
  private readonly syncGate: Gate;

  constructor(private readonly d: ConnectionManagerDeps) {
    this.syncGate = new Gate(Math.max(1, d.syncConcurrency ?? SYNC_CONCURRENCY));
  }

  get size(): number {
    return this.open.size;
  }

  /** Connections still subscribing / replaying / building their syncs (live events held meanwhile). */
  get attaching(): number {
    return this.attachingWork.size;
  }

  /**
   * Opens a connection: live events are held from the moment the node is subscribed until the
   * replay (when `lastEventId` is given) and the syncs were written, so nothing is lost or doubled.
   */
  async attach(uid: string, transport: ConnectionTransport, lastEventId?: string): Promise<OpenConnection> {
    const d = this.d;
    const id = connectionId(transport.kind);
    const sink = new ConnectionSink(transport, d.limits, d.observer);
    const presenceUp = d.presence ? d.presence.connected(uid, id).catch((err: Error) => d.logger.warn({ uid, err: err.message }, 'realtime presence: connect bookkeeping failed')) : SETTLED;
    const conn = new Connection(this, id, uid, transport.kind, sink, presenceUp);
    this.open.add(conn);
    d.onCount(transport.kind, 1);
    const work = sink.withHeldLive(async () => {
      // The syncs' anchor is read before subscribing: what follows it is live or replayable.
      const anchor = await historyAnchor(d.redis, d.historyKey(uid));
      await d.channels.add(uid, sink);
      const [history, syncs] = await Promise.all([
        lastEventId ? readHistorySince(d.redis, d.historyKey(uid), lastEventId, d.historyMaxLen) : undefined,
        this.syncGate.run(() => this.syncs(uid, anchor)),
      ]);
      if (history) {
        let replayed = 0;
        for (const e of history.events) if (sink.write(e)) replayed += 1;
        conn.initialReplay = { replayed, complete: history.complete };
      }
      // Syncs last: the client's state ends on the current snapshot, not on a replayed older one.
      for (const e of syncs) sink.write(e);
    });
    this.attachingWork.add(work);
    const done = () => void this.attachingWork.delete(work);
    work.then(done, done);
    try {
      await work;
    } catch (err) {
      await conn.close();
      throw err;
    }
    return conn;
  }

  /**
   * Closes every open connection of this node (shutdown), after the connect-time work still in
   * flight: its Firestore and Redis reads must finish before the process closes those clients (a
   * read cut off by a terminated Firestore client surfaced as an unhandled rejection inside the SDK).
   */
  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.attachingWork]);
    await Promise.all([...this.open].map((c) => c.close()));
  }

  /** Connection.close's work (once per connection). */
  async closeConnection(conn: Connection): Promise<void> {
    const d = this.d;
    conn.sink.close();
    this.open.delete(conn);
    d.onCount(conn.kind, -1);
    await d.channels.remove(conn.uid, conn.sink).catch(() => undefined);
    await conn.presenceUp;
    await d.presence?.disconnected(conn.uid, conn.id).catch((err: Error) => d.logger.warn({ uid: conn.uid, err: err.message }, 'realtime presence: disconnect bookkeeping failed'));
  }

  async replayInto(sink: ConnectionSink, uid: string, lastEventId: string): Promise<ReplayAck> {
    const r = await readHistorySince(this.d.redis, this.d.historyKey(uid), lastEventId, this.d.historyMaxLen);
    let replayed = 0;
    for (const e of r.events) if (sink.write(e)) replayed += 1;
    return { replayed, complete: r.complete };
  }

  /**
   * Fresh `notif.sync` and `msg.sync` for one connection (not published: only this socket needs
   * them). Their ids carry `anchor` (see replay.ts), so a reconnect with one of them replays only
   * what came after.
   */
  private async syncs(uid: string, anchor: string): Promise<EventEnvelope[]> {
    const out: EventEnvelope[] = [];
    const { firestore, database, logger } = this.d;
    // One read of the authorized companies for both syncs (msg.sync is company-filtered too), in
    // parallel with the source reads; a failure fails both loads, each caught below.
    const companies: Promise<readonly string[]> = firestore ? authorizedCompanies(firestore, uid) : Promise.resolve([]);
    companies.catch(() => undefined);
    const [notifs, msgs] = await Promise.all([
      firestore
        ? loadNotifications(firestore, uid, companies).catch((err: Error) => {
            logger.warn({ uid, err: err.message }, 'realtime: notif.sync could not be built');
            return undefined;
          })
        : undefined,
      database
        ? loadDirectMessages(database, uid, companies).catch((err: Error) => {
            logger.warn({ uid, err: err.message }, 'realtime: msg.sync could not be built');
            return undefined;
          })
        : undefined,
    ]);
    const anchored = (e: EventEnvelope) => ((e.event_id = anchoredEventId(anchor)), e);
    if (notifs) out.push(anchored(makeEvent('notif.sync', uid, notifSyncPayload(notifs))));
    if (msgs) out.push(anchored(makeEvent('msg.sync', uid, msgSyncPayload(msgs))));
    else if (!database) logger.debug({ uid }, 'realtime: no Realtime Database configured; msg.sync skipped');
    return out;
  }
}
