import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisSettings } from '../config/schema.js';
import type { Logger } from './logger.js';

/** Either client: domain code uses the command surface both share. */
export type RedisClient = Redis | Cluster;

export interface RedisHandle {
  readonly client: RedisClient;
  readonly name: string;
  /** Idempotent: QUIT (falls back to disconnect), safe to call twice. */
  close(): Promise<void>;
}

export interface CreateRedisOptions {
  settings: RedisSettings;
  /** CLIENT SETNAME value: shows up in CLIENT LIST, so name every connection after its job. */
  name: string;
  logger: Logger;
  /** BullMQ requires null for blocking connections (workers). */
  maxRetriesPerRequest?: number | null;
  /** Commands queue while disconnected; turn off for fast-failing request paths. */
  enableOfflineQueue?: boolean;
  lazyConnect?: boolean;
  /**
   * Batch the commands issued in one tick into one socket write. On for request-path clients
   * (measured: most of the RPC server's CPU went to per-command writes); keep it off for
   * blocking connections (BullMQ workers).
   */
  autoPipelining?: boolean;
  /**
   * Cluster mode only: route SSUBSCRIBE to the primary owning each channel's slot (one subscriber
   * connection per primary, resubscribed after failover). Required for sharded pub/sub: without it
   * ioredis sends SSUBSCRIBE over its single subscriber connection to a random node, which answers
   * MOVED for every channel it does not own, and the command fails after maxRedirections.
   */
  shardedSubscribers?: boolean;
}

const backoff = (times: number) => Math.min(50 * 2 ** Math.min(times, 10), 5000) + Math.floor(Math.random() * 100);

function baseOptions(o: CreateRedisOptions): RedisOptions {
  const s = o.settings;
  return {
    password: s.password,
    db: s.cluster ? 0 : s.db,
    connectionName: o.name,
    tls: s.tls ? { rejectUnauthorized: s.tlsVerify, servername: s.host } : undefined,
    maxRetriesPerRequest: o.maxRetriesPerRequest === undefined ? 2 : o.maxRetriesPerRequest,
    enableOfflineQueue: o.enableOfflineQueue ?? true,
    retryStrategy: backoff,
    lazyConnect: o.lazyConnect ?? false,
    connectTimeout: 5000,
    enableAutoPipelining: o.autoPipelining ?? false,
  };
}

/**
 * Cluster mode: ioredis's own connect and readiness checks need the offline queue, so it is on
 * while (re)connecting — callers' commands then wait, bounded by their RPC timeout — and off once
 * the cluster is ready, so a command that cannot be routed fails at once.
 */
function failFastWhenReady(client: Cluster): void {
  const options = client.options as { enableOfflineQueue: boolean };
  client.on('ready', () => {
    options.enableOfflineQueue = false;
  });
  client.on('reconnecting', () => {
    options.enableOfflineQueue = true;
  });
}

function nodeOptions(opts: RedisOptions): Omit<RedisOptions, 'enableOfflineQueue' | 'retryStrategy'> {
  const { enableOfflineQueue: _q, retryStrategy: _r, ...rest } = opts;
  return rest;
}

/**
 * One connection from the shared settings: standalone, TLS (verified or not) or cluster mode.
 * Errors are logged (throttled), never thrown into the process.
 */
export function createRedis(o: CreateRedisOptions): RedisHandle {
  const opts = baseOptions(o);
  const client: RedisClient = o.settings.cluster
    ? new Cluster([{ host: o.settings.host, port: o.settings.port }], {
        // ioredis manages node connections' offline queue and retry itself (they carry its own
        // CLUSTER SLOTS refresh before they are writable); passing ours would override them.
        // Fail-fast applies at the cluster level below.
        redisOptions: nodeOptions(opts),
        clusterRetryStrategy: backoff,
        maxRedirections: 16,
        // ElastiCache with TLS presents node names that must be looked up as given.
        dnsLookup: (address, callback) => callback(null, address),
        slotsRefreshTimeout: 5000,
        // The cluster's own readiness check goes through this queue: it must be on while
        // connecting (off, about one start in three never became ready). See failFastWhenReady.
        enableOfflineQueue: true,
        lazyConnect: opts.lazyConnect,
        enableAutoPipelining: opts.enableAutoPipelining,
        shardedSubscribers: o.shardedSubscribers ?? false,
      })
    : new Redis({ host: o.settings.host, port: o.settings.port, ...opts });

  if (client instanceof Cluster && o.enableOfflineQueue === false) failFastWhenReady(client);

  let lastLog = 0;
  client.on('error', (err: Error) => {
    const now = Date.now();
    if (now - lastLog > 5000) {
      lastLog = now;
      o.logger.warn({ redis: o.name, err: err.message }, 'redis connection error');
    }
  });

  let closing: Promise<void> | undefined;
  return {
    client,
    name: o.name,
    close() {
      closing ??= (async () => {
        try {
          if (client.status === 'ready') await client.quit();
          else client.disconnect();
        } catch {
          client.disconnect();
        }
      })();
      return closing;
    },
  };
}

/** Resolves once the client is ready, or rejects after `timeoutMs`. */
export async function waitReady(client: RedisClient, timeoutMs = 10000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`redis not ready after ${timeoutMs} ms (status ${client.status})`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
    };
    client.on('ready', onReady);
  });
}

/**
 * True when every command a process sends on its main client reaches one Redis over one
 * connection, so Redis runs them in the order they were sent, whatever their keys (a single node).
 * On a cluster, commands for keys in different slots go to different nodes and may run in any
 * order: a step that must follow another has to wait for its answer there.
 */
export function commandsRunInSendOrder(settings: Pick<RedisSettings, 'cluster'>): boolean {
  return !settings.cluster;
}
