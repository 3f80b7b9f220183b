/**
 * Status records for the operator console. Every process (any role) writes a small JSON record
 * about itself to the main Redis every CONSOLE_STATUS_INTERVAL_MS, with a TTL of three periods,
 * and notes itself in an index sorted by last report; any node's console reads all of them.
 *
 * Cluster-safe: the record keys and the index share the hash tag `{status}` (one slot), the index
 * is pruned by score on every write, and readers use ZRANGEBYSCORE + MGET (never KEYS/SCAN).
 *
 * A record carries cumulative metric snapshots (counters and histogram buckets): the console turns
 * two consecutive records of a node into rates and quantiles, and sums them over nodes.
 */
import { hostname } from 'node:os';
import type { Core } from '../core.js';
import type { ListenersHandle } from '../listeners/index.js';
import { keys } from '../shared/keys.js';
import type { Metrics } from '../shared/metrics.js';
import type { RedisClient } from '../shared/redis.js';

/** Longest list of uids a record carries (users connected, leases held); the counts stay exact. */
export const MAX_LISTED_USERS = 200;
/** Most records a console reads. */
export const MAX_NODES = 200;

export interface Histogram {
  /** Cumulative counts per upper bound, ascending; the last bound is +Inf. */
  buckets: Array<[number, number]>;
  count: number;
  sum: number;
}

export interface MetricSnapshot {
  events_by_type: Record<string, number>;
  rpc_requests: number;
  rpc_errors: number;
  rpc_duration: Histogram;
  queue_wait: Histogram;
  job_duration: Histogram;
  socket_connects: number;
  socket_disconnects: number;
  registry_fallbacks: number;
}

export interface StatusRecord {
  v: 1;
  instance_id: string;
  role: string;
  version: string;
  host: string;
  pid: number;
  started_at: number;
  reported_at: number;
  uptime_s: number;
  interval_ms: number;
  sockets: { total: number; by_transport: Record<string, number> };
  users_connected: { count: number; uids: string[] };
  watchers_by_kind: Record<string, number>;
  leases: { count: number; users: Array<{ uid: string; watchers: string[] }> };
  queues: Record<string, { waiting: number; active: number; failed: number; delayed: number; completed: number }> | null;
  dependencies: Array<{ name: string; required: boolean; ok: boolean; latency_ms: number; detail?: string }>;
  metrics: MetricSnapshot;
}

export interface StatusSources {
  listeners?: ListenersHandle;
  /** The realtime gateway of this process (src/realtime/index.ts `Gateway`); only its local users are read. */
  gateway?: { channels: { localUids(): readonly string[] } };
}

type MetricValue = { value: number; labels: Record<string, string | number>; metricName?: string };

async function values(metrics: Metrics, name: string): Promise<MetricValue[]> {
  const m = metrics.registry.getSingleMetric(name);
  if (!m) return [];
  return ((await m.get()).values ?? []) as MetricValue[];
}

const total = (vs: MetricValue[]) => vs.reduce((a, v) => a + v.value, 0);

function byLabel(vs: MetricValue[], label: string): Record<string, number> {
  const out: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const v of vs) {
    const k = String(v.labels[label] ?? '');
    out[k] = (out[k] ?? 0) + v.value;
  }
  return out;
}

/** A histogram summed over all its labels but `le`. */
async function histogram(metrics: Metrics, name: string): Promise<Histogram> {
  const vs = await values(metrics, name);
  const buckets = new Map<number, number>();
  let count = 0;
  let sum = 0;
  for (const v of vs) {
    if (v.metricName === `${name}_bucket`) {
      const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
      buckets.set(le, (buckets.get(le) ?? 0) + v.value);
    } else if (v.metricName === `${name}_count`) count += v.value;
    else if (v.metricName === `${name}_sum`) sum += v.value;
  }
  // JSON has no Infinity: the last bound is written as null.
  return { buckets: [...buckets].sort((a, b) => a[0] - b[0]).map(([le, c]) => [Number.isFinite(le) ? le : (null as unknown as number), c]), count, sum };
}

export async function metricSnapshot(metrics: Metrics): Promise<MetricSnapshot> {
  const rpc = await values(metrics, 'rpc_requests_total');
  return {
    events_by_type: byLabel(await values(metrics, 'events_published_total'), 'type'),
    rpc_requests: total(rpc),
    rpc_errors: total(rpc.filter((v) => v.labels.code !== 'OK')),
    rpc_duration: await histogram(metrics, 'rpc_duration_seconds'),
    queue_wait: await histogram(metrics, 'task_queue_wait_seconds'),
    job_duration: await histogram(metrics, 'task_duration_seconds'),
    socket_connects: total(await values(metrics, 'realtime_connects_total')),
    socket_disconnects: total(await values(metrics, 'realtime_disconnects_total')),
    registry_fallbacks: total(await values(metrics, 'registry_fallback_total')),
  };
}

async function runChecks(core: Core): Promise<StatusRecord['dependencies']> {
  return Promise.all(
    core.deps.checks.map(async (c) => {
      const t = Date.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        const r = await Promise.race([
          c.check(),
          new Promise<{ ok: false; detail: string }>((resolve) => {
            timer = setTimeout(() => resolve({ ok: false, detail: 'no answer within 2000 ms' }), 2000);
          }),
        ]);
        return { name: c.name, required: c.required, ok: r.ok, latency_ms: Date.now() - t, ...(r.detail ? { detail: r.detail.slice(0, 200) } : {}) };
      } catch (err) {
        return { name: c.name, required: c.required, ok: false, latency_ms: Date.now() - t, detail: (err as Error).message.slice(0, 200) };
      } finally {
        clearTimeout(timer);
      }
    }),
  );
}

/** This process's record, built from its metrics, gateway, listeners and queues. */
export async function buildStatusRecord(core: Core, src: StatusSources): Promise<StatusRecord> {
  const { config, metrics, startedAt } = core.deps;
  const sockets = byLabel(await values(metrics, 'realtime_connected_sockets'), 'transport');
  const uids = src.gateway?.channels.localUids() ?? [];
  const owned = src.listeners?.leases.ownedUsers() ?? [];
  const sessions = src.listeners?.coordinator.sessions;
  let queues: StatusRecord['queues'] = null;
  const rt = core.tasks;
  if (rt) {
    queues = Object.create(null) as NonNullable<StatusRecord['queues']>;
    await Promise.all(
      rt.queues.all().map(async (q) => {
        try {
          const c = await q.getJobCounts('waiting', 'active', 'failed', 'delayed', 'completed', 'prioritized');
          queues![q.name] = { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, failed: c.failed ?? 0, delayed: c.delayed ?? 0, completed: c.completed ?? 0 };
        } catch {
          // queue Redis down: the dependency list says so
        }
      }),
    );
  }
  const now = Date.now();
  return {
    v: 1,
    instance_id: config.instanceId,
    role: config.role,
    version: config.serviceVersion,
    host: hostname(),
    pid: process.pid,
    started_at: startedAt,
    reported_at: now,
    uptime_s: Math.round((now - startedAt) / 1000),
    interval_ms: config.consoleStatusIntervalMs,
    sockets: { total: Object.values(sockets).reduce((a, b) => a + b, 0), by_transport: sockets },
    users_connected: { count: uids.length, uids: uids.slice(0, MAX_LISTED_USERS) },
    watchers_by_kind: byLabel(await values(metrics, 'listeners_watchers_attached'), 'kind'),
    leases: { count: owned.length, users: owned.slice(0, MAX_LISTED_USERS).map((uid) => ({ uid, watchers: sessions?.get(uid)?.watcherKinds ?? [] })) },
    queues,
    dependencies: await runChecks(core),
    metrics: await metricSnapshot(metrics),
  };
}

export interface StatusReporter {
  /** Writes one record now (also done every interval). */
  report(): Promise<void>;
  /** Stops reporting and removes this process's record. */
  close(): Promise<void>;
}

/** Starts writing this process's record every `config.consoleStatusIntervalMs`; close it at shutdown. */
export function startStatusReporter(core: Core, src: StatusSources = {}): StatusReporter {
  const { config, redis, logger } = core.deps;
  const interval = config.consoleStatusIntervalMs;
  const ttlMs = interval * 3;
  let warned = false;
  let running: Promise<void> | undefined;
  const report = () =>
    (running ??= (async () => {
      try {
        const rec = await buildStatusRecord(core, src);
        await redis
          .multi()
          .set(keys.consoleStatus(config.instanceId), JSON.stringify(rec), 'PX', ttlMs)
          .zadd(keys.consoleStatusIndex(), rec.reported_at, config.instanceId)
          .zremrangebyscore(keys.consoleStatusIndex(), '-inf', rec.reported_at - ttlMs)
          .exec();
        warned = false;
      } catch (err) {
        if (!warned) logger.warn({ err: (err as Error).message }, 'could not write the console status record');
        warned = true;
      } finally {
        running = undefined;
      }
    })());
  const timer = setInterval(() => void report(), interval);
  timer.unref();
  void report();
  let closed: Promise<void> | undefined;
  return {
    report,
    close: () =>
      (closed ??= (async () => {
        clearInterval(timer);
        await running;
        await redis
          .multi()
          .del(keys.consoleStatus(config.instanceId))
          .zrem(keys.consoleStatusIndex(), config.instanceId)
          .exec()
          .catch(() => undefined);
      })()),
  };
}

/** Every live record (freshest first), pruned of entries whose record expired. */
export async function readStatusRecords(redis: RedisClient, now = Date.now()): Promise<StatusRecord[]> {
  const ids = await redis.zrevrangebyscore(keys.consoleStatusIndex(), '+inf', now - 600_000, 'LIMIT', 0, MAX_NODES);
  if (ids.length === 0) return [];
  const raw = await redis.mget(...ids.map((id) => keys.consoleStatus(id)));
  const out: StatusRecord[] = [];
  for (const r of raw) {
    if (!r) continue;
    try {
      const rec = JSON.parse(r) as StatusRecord;
      if (rec && rec.v === 1 && typeof rec.instance_id === 'string') out.push(rec);
    } catch {
      // a record this version cannot read is skipped
    }
  }
  return out;
}
