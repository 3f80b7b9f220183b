import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Coordinator, type CoordinatorDeps } from '../../../src/listeners/coordinator.js';
import { listenerOptions } from '../../../src/listeners/options.js';
import { silentLogger } from '../../../src/shared/logger.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

/** Fakes at the coordinator's seams: presence (who is online), leases (always free), sessions. */
function setup() {
  const online = new Set<string>();
  const released: string[] = [];
  const sessions: Array<{ uid: string; stopped: boolean }> = [];
  const deps = {
    presence: { isOnline: (u: string) => online.has(u), entry: () => ({ companies: [] }), onlineUsers: () => [...online] },
    leases: {
      tryAcquire: async (uids: string[]) => uids,
      release: async (u: string) => void released.push(u),
      renewAll: async () => undefined,
      releaseAll: async () => undefined,
    },
    wanted: { list: async () => [] },
    logger: silentLogger(),
    options: listenerOptions({ detachGraceMs: 1000 }),
    newSession: (uid: string) => {
      const s = { uid, stopped: false, start() {}, stop() { s.stopped = true; }, reconcile() {}, setCompanies() {} };
      sessions.push(s);
      return s;
    },
    onSessionsChanged: () => undefined,
  } as unknown as CoordinatorDeps;
  return { c: new Coordinator(deps), online, released, sessions };
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
