import { z } from 'zod';
import { keys } from '../../shared/keys.js';
import { defineTask } from './types.js';

const TIMEOUT_MS = 5000;

async function timed(name: string, fn: () => Promise<unknown>) {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([fn(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS)))]);
    return { name, ok: true, latency_ms: Date.now() - started, detail: null as string | null };
  } catch (err) {
    return { name, ok: false, latency_ms: Date.now() - started, detail: (err as Error).message.slice(0, 200) };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/**
 * Scheduled every 60 s: pings the main Redis, the queue Redis and Firestore; records each result in
 * the `scheduler:dependency_health` hash (field per dependency, JSON) and a gauge, logs failures.
 */
export default defineTask({
  name: 'dependency_health',
  queue: 'maintenance',
  tracked: false,
  options: { attempts: 1, backoffMs: 1000, maxDurationSeconds: 50, priority: 'low' },
  payload: z.looseObject({}),
  async process(_input, ctx) {
    const { service, queueRedis } = ctx.deps;
    const checks = await Promise.all([
      timed('redis', () => service.redis.ping()),
      timed('queue_redis', () => queueRedis.ping()),
      ...(service.firestore ? [timed('firestore', () => service.firestore!.collection('listeners_registry').limit(1).get())] : []),
    ]);
    const checkedAt = new Date().toISOString();
    const gauge = service.metrics.gauge('dependency_up', 'Last scheduled health check per dependency (1 up, 0 down)', ['dependency']);
    for (const c of checks) {
      gauge.set({ dependency: c.name }, c.ok ? 1 : 0);
      if (!c.ok) ctx.logger.warn({ dependency: c.name, detail: c.detail }, 'dependency health check failed');
    }
    const fields: Record<string, string> = {};
    for (const c of checks) fields[c.name] = JSON.stringify({ ...c, checked_at: checkedAt });
    // Recording needs the main Redis; when it is the one that is down, the log above is the record.
    await service.redis.hset(keys.dependencyHealth(), fields).catch((err: Error) => ctx.logger.warn({ err: err.message }, 'could not record dependency health'));
    return { ok: checks.every((c) => c.ok), checked_at: checkedAt, checks };
  },
});
