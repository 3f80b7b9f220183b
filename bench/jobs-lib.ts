/** Bench helpers for bench/jobs.ts: the in-process Firestore emulator and an awaitable counter. */
import { FirestoreServer } from '@firestore-emulator/server';
import { freePort, waitPort } from './lib.js';

export { benchRedis, percentile, round } from './lib.js';

/** Starts the in-process Firestore emulator and points firebase-admin at it (this process only). */
export async function benchFirestore(): Promise<{ host: string; stop(): void }> {
  const port = await freePort();
  const server = new FirestoreServer();
  await server.start(port);
  await waitPort(port);
  const host = `127.0.0.1:${port}`;
  process.env.FIRESTORE_EMULATOR_HOST = host;
  return { host, stop: () => server.stop() };
}

/** Resolves when `count` reaches `target` (or rejects after `timeoutMs`). */
export function countdown(target: number, timeoutMs: number) {
  let n = 0;
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  const timer = setTimeout(() => reject(new Error(`only ${n}/${target} done after ${timeoutMs} ms`)), timeoutMs);
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
