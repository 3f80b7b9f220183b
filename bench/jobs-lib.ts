/** Bench helpers for bench/jobs.ts: an awaitable counter and a per-task cost meter. */
import type { Redis } from 'ioredis';
import { round, treeCpuSeconds } from './lib.js';
export { benchRedis, percentile, round, treeCpuSeconds } from './lib.js';

/** Resolves when `count` reaches `target` (or rejects after `timeoutMs`). */
export function countdown(target: number, timeoutMs: number) {
  let n = 0;
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  const timer = setTimeout(() => reject(new Error(`only ${n}/${target} done after ${timeoutMs} ms`)), timeoutMs);
  if (target <= 0) {
    clearTimeout(timer);
    resolve();
  }
  return {
    done,
    tick() {
      if (++n >= target) {
        clearTimeout(timer);
        resolve();
      }
    },
  };
}

/** What the Redis server did: commands, socket reads (one per client write it received) and its CPU seconds. */
export async function redisCounters(admin: Redis): Promise<{ commands: number; reads: number; cpu: number }> {
  const info = await admin.info();
  const num = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return { commands: num('total_commands_processed'), reads: num('total_reads_processed'), cpu: num('used_cpu_user') + num('used_cpu_sys') };
}

export interface TaskCost {
  /** CPU ms per task of the path's own processes (API + worker, bare worker, uvicorn + Celery). */
  server_cpu_ms: number;
  /** The same, per process group (e.g. api / worker). */
  by_process: Record<string, number>;
  redis_cpu_ms: number;
  redis_commands: number;
  /** Socket reads by Redis per task: each is one client write that reached it (a round trip's request). */
  redis_reads: number;
}

/** Snapshots before a measured window; `per(tasks)` gives the costs per task since. */
export async function costMeter(admin: Redis, groups: Record<string, readonly number[]>): Promise<{ per(tasks: number): Promise<TaskCost> }> {
  const names = Object.keys(groups);
  const cpu = () => names.map((g) => treeCpuSeconds(groups[g]!));
  const cpu0 = cpu();
  const r0 = await redisCounters(admin);
  return {
    async per(tasks) {
      const cpu1 = cpu();
      const r1 = await redisCounters(admin);
      const n = Math.max(1, tasks);
      const ms = names.map((_, i) => ((cpu1[i]! - cpu0[i]!) * 1000) / n);
      // The two INFO calls themselves: one command and one read each, not counted.
      return {
        server_cpu_ms: round(ms.reduce((a, b) => a + b, 0), 3),
        by_process: Object.fromEntries(names.map((g, i) => [g, round(ms[i]!, 3)])),
        redis_cpu_ms: round(((r1.cpu - r0.cpu) * 1000) / n, 3),
        redis_commands: round((r1.commands - r0.commands - 1) / n, 1),
        redis_reads: round((r1.reads - r0.reads - 1) / n, 1),
      };
    },
  };
}
