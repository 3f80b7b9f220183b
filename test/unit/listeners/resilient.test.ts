import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay, ResilientWatch, type AttachFn } from '../../../src/listeners/resilient.js';
import { silentLogger } from '../../../src/shared/logger.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('backoff', () => {
  it('doubles up to the cap with ±50 % jitter', () => {
    expect(backoffDelay(0, 100, 1000, () => 0.5)).toBe(100);
    expect(backoffDelay(3, 100, 1000, () => 0.5)).toBe(800);
    expect(backoffDelay(10, 100, 1000, () => 0.5)).toBe(1000);
    expect(backoffDelay(0, 100, 1000, () => 0)).toBe(50);
    expect(backoffDelay(0, 100, 1000, () => 0.999)).toBe(150);
  });
});

describe('ResilientWatch', () => {
  it('re-attaches after errors with growing delays, resets after data, counts attach state', () => {
    const cbs: Array<Parameters<AttachFn>[0]> = [];
    let detached = 0;
    const attached: number[] = [];
    let reattaches = 0;
    const w = new ResilientWatch({
      kind: 'k',
      backoffBaseMs: 100,
      backoffMaxMs: 10_000,
      logger: silentLogger(),
      random: () => 0.5,
      onAttached: (d) => attached.push(d),
      onReattach: () => reattaches++,
      attach: (cb) => {
        cbs.push(cb);
        return () => detached++;
      },
    }).start();
    expect(cbs).toHaveLength(1);
    cbs[0]!.onHealthy();
    cbs[0]!.onError(new Error('boom'));
    expect(detached).toBe(1);
    vi.advanceTimersByTime(99);
    expect(cbs).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(cbs).toHaveLength(2);
    cbs[1]!.onError(new Error('again')); // no data in between: next delay doubles
    vi.advanceTimersByTime(199);
    expect(cbs).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(cbs).toHaveLength(3);
    cbs[1]!.onError(new Error('stale callback ignored'));
    cbs[2]!.onHealthy();
    cbs[2]!.onError(new Error('after data'));
    vi.advanceTimersByTime(100); // reset to the base delay
    expect(cbs).toHaveLength(4);
    expect(reattaches).toBe(3);
    expect(attached).toEqual([1, -1, 1, -1]);
    w.stop();
    w.stop();
    expect(detached).toBe(4);
    vi.advanceTimersByTime(60_000);
    expect(cbs).toHaveLength(4);
  });

  it('treats a throwing attach as an error', () => {
    let calls = 0;
    const w = new ResilientWatch({
      kind: 'k',
      backoffBaseMs: 10,
      backoffMaxMs: 100,
      logger: silentLogger(),
      random: () => 0.5,
      attach: () => {
        calls++;
        if (calls < 3) throw new Error('cannot attach');
        return () => undefined;
      },
    }).start();
    vi.advanceTimersByTime(10 + 20);
    expect(calls).toBe(3);
    w.stop();
  });
});
