import { describe, expect, it } from 'vitest';
import { UserChannels } from '../../src/realtime/subscriptions.js';
import type { EventSink } from '../../src/realtime/sink.js';
import { silentLogger } from '../../src/shared/logger.js';
import { testRedis, uniq } from '../helpers/env.js';

describe('UserChannels when the subscriber connection is gone', () => {
  it('rejects the add (for its caller to handle) and leaves no unhandled rejection behind', async () => {
    const h = await testRedis('subscriptions-closed');
    const channels = new UserChannels({ sub: h.client, channel: (uid) => `user:${uid}`, logger: silentLogger() });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      // The node is shutting down: its subscriber connection closed while a socket attaches.
      h.client.disconnect();
      const sink: EventSink = { deliver: () => undefined };
      await expect(channels.add(uniq('gone'), sink)).rejects.toThrow(/closed/i);
      // Unhandled rejections are reported after the microtask queue drains: give it a macrotask.
      await new Promise<void>((r) => setImmediate(r));
      await new Promise<void>((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
      expect(channels.subscribedCount()).toBe(0);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      channels.close();
    }
  });
});
