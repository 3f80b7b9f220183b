import { describe, expect, it } from 'vitest';
import { ConnectionSink, idHash, type ConnectionTransport } from '../../../src/realtime/sink.js';
import { makeEvent, type EventEnvelope } from '../../../src/shared/events.js';

const sinkWith = (recentIds: number) => {
  const sent: string[] = [];
  const t: ConnectionTransport = { kind: 'ws', overLimit: () => false, send: (e) => sent.push(e.event_id), disconnect: () => undefined };
  const sink = new ConnectionSink(t, { maxConsecutiveDrops: 3, maxReplayBuffer: 10, recentIds }, { delivered: () => undefined, dropped: () => undefined, slowDisconnect: () => undefined });
  return { sink, sent };
};

describe('ids a connection sent (hashed ring)', () => {
  it('recognises exactly the last `recentIds` ids sent, across the ring growing and wrapping', () => {
    const { sink, sent } = sinkWith(20);
    const events = Array.from({ length: 50 }, (_, i) => makeEvent('notif.add', 'u', { i }) as EventEnvelope);
    for (const e of events) expect(sink.write(e)).toBe(true);
    expect(sent).toHaveLength(50);
    // The last 20 are remembered (a repeat is not sent again), the 30 before them are not.
    events.forEach((e, i) => expect(sink.hasSent(e.event_id), `event ${i}`).toBe(i >= 30));
    expect(sink.write(events[49]!)).toBe(false);
    expect(sink.write(events[10]!)).toBe(true);
  });

  it('hashes distinct ids apart (no collision among 200,000 event ids)', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 200_000; i++) {
      const h = idHash(makeEvent('notif.add', 'u', {}).event_id);
      expect(Number.isSafeInteger(h)).toBe(true);
      seen.add(h);
    }
    expect(seen.size).toBe(200_000);
  });
});
