import { describe, expect, it } from 'vitest';
import { Gate } from '../../../src/realtime/connections.js';

/** A promise resolved from outside. */
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('Gate (connect-time sync concurrency)', () => {
  it('never runs more than its limit at once, runs every call in arrival order, and survives failures', async () => {
    const gate = new Gate(3);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const releases = Array.from({ length: 10 }, () => deferred());
    const calls = releases.map((d, i) =>
      gate.run(async () => {
        started.push(i);
        running += 1;
        peak = Math.max(peak, running);
        await d.promise;
        running -= 1;
        if (i === 4) throw new Error('boom');
        return i;
      }),
    );
    // Release one at a time as slots free up; every call must still get a slot.
    for (let i = 0; i < releases.length; i++) {
      await Promise.resolve();
      releases[i]!.resolve();
    }
    const results = await Promise.allSettled(calls);
    expect(peak).toBe(3);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    expect(results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))).toEqual([0, 1, 2, 3, 5, 6, 7, 8, 9]);
    // The slot of the failed call was given back: a new call runs at once.
    expect(await gate.run(async () => 'free')).toBe('free');
  });
});
