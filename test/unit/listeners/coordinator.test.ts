import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Coordinator, type CoordinatorDeps } from '../../../src/listeners/coordinator.js';
import { listenerOptions } from '../../../src/listeners/options.js';
import { silentLogger } from '../../../src/shared/logger.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

/** Fakes at the coordinator's seams: presence (who is online), leases (free unless held here), sessions. */
function setup(o: { live?: number } = {}) {
  const online = new Set<string>();
  const released: string[] = [];
  const held = new Set<string>();
  /** Leases another instance holds. */
  const elsewhere = new Set<string>();
  const live = { n: o.live ?? 1 };
  const sessions: Array<{ uid: string; stopped: boolean; graceful: boolean }> = [];
  const deps = {
    presence: { isOnline: (u: string) => online.has(u), entry: () => ({ companies: [] }), onlineUsers: () => [...online] },
    leases: {
      tryAcquire: async (uids: string[], max = Infinity) => {
        const got = uids.filter((u) => !held.has(u) && !elsewhere.has(u)).slice(0, max);
        for (const u of got) held.add(u);
        return got;
      },
      release: async (u: string) => {
        held.delete(u);
        released.push(u);
      },
      get size() {
        return held.size;
      },
      heartbeat: async () => live.n,
      renewAll: async () => undefined,
      releaseAll: async () => undefined,
      leave: async () => undefined,
    },
    wanted: { list: async () => [] },
    logger: silentLogger(),
    options: listenerOptions({ detachGraceMs: 1000, leaseRenewMs: 100, leaseRetryMs: 100, leaseTtlMs: 1000 }),
    newSession: (uid: string) => {
      const s = {
        uid,
        stopped: false,
        graceful: false,
        start() {},
        stop() {
          s.stopped = true;
        },
        async stopGracefully() {
          s.graceful = true;
          s.stopped = true;
        },
        reconcile() {},
        setCompanies() {},
      };
      sessions.push(s);
      return s;
    },
    onSessionsChanged: () => undefined,
  } as unknown as CoordinatorDeps;
  return { c: new Coordinator(deps), online, released, sessions, live, elsewhere };
}

describe('Coordinator grace period', () => {
  it('detaches after the grace period; coming back within it cancels the detach', async () => {
    const { c, online, released, sessions } = setup();
    online.add('u');
    c.onOnline('u');
    await vi.advanceTimersByTimeAsync(0);
    expect(c.sessions.has('u')).toBe(true);

    online.delete('u');
    c.onOffline('u');
    await vi.advanceTimersByTimeAsync(900);
    online.add('u');
    c.onOnline('u');
    await vi.advanceTimersByTimeAsync(5000);
    expect(c.sessions.has('u')).toBe(true);
    expect(sessions).toHaveLength(1);
    expect(released).toEqual([]);

    online.delete('u');
    c.onOffline('u');
    await vi.advanceTimersByTimeAsync(1000);
    expect(c.sessions.has('u')).toBe(false);
    expect(sessions[0]!.stopped).toBe(true);
    expect(released).toEqual(['u']);
    await c.close();
  });

  it('a lost lease detaches without releasing', async () => {
    const { c, online, released } = setup();
    online.add('v');
    c.onOnline('v');
    await vi.advanceTimersByTimeAsync(0);
    c.onLeaseLost('v');
    expect(c.sessions.has('v')).toBe(false);
    expect(released).toEqual([]);
    await c.close();
  });
});

describe('Coordinator fair share', () => {
  it('takes at most its share plus slack, and sheds the excess gracefully when another instance joins', async () => {
    const { c, online, released, sessions, live } = setup();
    await c.start();
    for (let i = 0; i < 40; i++) online.add(`u${i}`);
    for (const u of online) c.onOnline(u);
    await vi.advanceTimersByTimeAsync(0);
    expect(c.sessions.size).toBe(40); // alone: everyone (share 40 + slack)

    live.n = 2; // a second instance appears in the heartbeat set
    await vi.advanceTimersByTimeAsync(150);
    expect(c.sessions.size).toBe(40); // one tick: not yet (an excess must last two ticks)
    await vi.advanceTimersByTimeAsync(100);
    expect(c.fairShare()).toBe(22); // ceil(40 / 2) + 10 %
    expect(c.sessions.size).toBe(22);
    expect(released).toHaveLength(18);
    // Released only after their sessions stopped gracefully (queued events published).
    for (const u of released) expect(sessions.find((s) => s.uid === u)!.graceful).toBe(true);
    // The retry timer does not take them back: no room left.
    await vi.advanceTimersByTimeAsync(500);
    expect(c.sessions.size).toBe(22);
    await c.close();
  });

  it('skips users held elsewhere when looking for room (free leases are found first)', async () => {
    const { c, online, elsewhere } = setup({ live: 2 });
    await c.start();
    for (let i = 0; i < 10; i++) online.add(`u${i}`);
    for (let i = 0; i < 8; i++) elsewhere.add(`u${i}`); // the other instance holds the first eight
    await vi.advanceTimersByTimeAsync(150);
    expect([...c.sessions.keys()].sort()).toEqual(['u8', 'u9']);
    await c.close();
  });
});
