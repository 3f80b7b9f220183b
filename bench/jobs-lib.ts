/** Bench helpers for bench/jobs.ts: an awaitable counter. */
export { benchRedis, percentile, round } from './lib.js';

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
