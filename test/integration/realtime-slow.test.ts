import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { makeEvent, type EventEnvelope } from '../../src/shared/events.js';
import { ConnectionSink, type ConnectionTransport } from '../../src/realtime/sink.js';
import { startFirestore, TEST_TOKEN, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import { idToken, startAuthEmulator, type AuthEmulator } from '../helpers/realtimeAuth.js';
import { recordWs, startGatewayNode, type GatewayNode } from '../helpers/realtimeNode.js';

describe('slow clients (sink policy)', () => {
  it('drops events while the transport is over its bound, then disconnects after too many drops in a row', () => {
    let over = false;
    const sent: string[] = [];
    const closed: string[] = [];
    const counts = { delivered: 0, dropped: 0, slow: 0 };
    const t: ConnectionTransport = { kind: 'ws', overLimit: () => over, send: (e) => sent.push(e.event_id), disconnect: (r) => closed.push(r) };
    const sink = new ConnectionSink(t, { maxConsecutiveDrops: 3, maxReplayBuffer: 10, recentIds: 10 }, {
      delivered: () => counts.delivered++,
      dropped: () => counts.dropped++,
      slowDisconnect: () => counts.slow++,
    });
    const ev = () => makeEvent('notif.add', 'u', {});
    const e1 = ev();
    sink.deliver(e1, JSON.stringify(e1));
    sink.deliver(e1, JSON.stringify(e1)); // duplicate id: not sent twice
    over = true;
    sink.deliver(ev(), '{}');
    sink.deliver(ev(), '{}');
    over = false;
    const e4 = ev();
    sink.deliver(e4, '{}'); // recovers: the drop streak resets
    over = true;
    for (let i = 0; i < 3; i++) sink.deliver(ev(), '{}');
    expect(sent).toEqual([e1.event_id, e4.event_id]);
    expect(counts).toEqual({ delivered: 2, dropped: 5, slow: 1 });
    expect(closed[0]).toMatch(/slow client: 3 events dropped/);
    sink.deliver(ev(), '{}');
    expect(counts.dropped).toBe(5); // closed: nothing more
  });

  it('holds live events during a replay and releases them after, without duplicates', async () => {
    const sent: EventEnvelope[] = [];
    const sink = new ConnectionSink({ kind: 'socket.io', overLimit: () => false, send: (e) => sent.push(e), disconnect: () => undefined }, { maxConsecutiveDrops: 3, maxReplayBuffer: 10, recentIds: 10 }, { delivered: () => undefined, dropped: () => undefined, slowDisconnect: () => undefined });
    const [a, b, c] = [1, 2, 3].map((i) => makeEvent('notif.add', 'u', { i }) as EventEnvelope) as [EventEnvelope, EventEnvelope, EventEnvelope];
    await sink.withHeldLive(async () => {
      sink.deliver(b, ''); // live, arrives during the replay
      sink.deliver(c, '');
      sink.write(a);
      sink.write(b); // replayed from history too
    });
    expect(sent.map((e) => e.payload.i)).toEqual([1, 2, 3]);
  });
});

let fs: FirestoreEmulator;
let authEmu: AuthEmulator;
let node: GatewayNode;
beforeAll(async () => {
  fs = await startFirestore();
  authEmu = await startAuthEmulator();
  node = await startGatewayNode({ gateway: { presence: false, limits: { wsMaxBufferedBytes: 256 * 1024, maxConsecutiveDrops: 50 } } });
});
afterAll(async () => {
  await node?.close();
  await authEmu?.stop();
  fs?.stop();
});

describe('a slow /ws client over TCP', () => {
  it('is dropped-for then disconnected with a logged reason, while another user keeps receiving', async () => {
    const slowUid = uniq('slow');
    const fastUid = uniq('fast');
    const slow = recordWs(node.url, { token: idToken(slowUid), deltas: '1' });
    const fast = recordWs(node.url, { token: idToken(fastUid), deltas: '1' }); // the markers are notif.add deltas
    await Promise.all([slow.opened, fast.opened]);
    // The slow client stops reading: the kernel buffers fill, then ws.bufferedAmount grows.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const closed = new Promise<number>((r) => slow.ws.once('close', (code) => r(code)));
    const big = 'x'.repeat(64 * 1024);
    const pub = node.core.deps.publisher;
    let i = 0;
    const metric = () => node.core.deps.metrics.value('realtime_slow_disconnects_total', { transport: 'ws' });
    while ((await metric()) === 0 && i < 2000) {
      i += 1;
      await pub.publishUser(makeEvent('chat.message', slowUid, { blob: big, i }));
      if (i % 20 === 0) {
        const marker = makeEvent('notif.add', fastUid, { i });
        await pub.publishUser(marker);
        await waitFor(() => fast.frames.some((f) => f.event_id === marker.event_id), 10000, 'fast client keeps receiving');
      }
    }
    expect(await metric()).toBe(1);
    expect(await node.core.deps.metrics.value('realtime_events_dropped_total', { transport: 'ws', reason: 'slow_client' })).toBeGreaterThanOrEqual(50);
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toBe(1013);
    const after = makeEvent('notif.add', fastUid, { after: true });
    await pub.publishUser(after);
    await waitFor(() => fast.frames.some((f) => f.event_id === after.event_id), 10000, 'fast client after');
    fast.close();
  });
});

describe('/ws liveness', () => {
  it('closes a client that stops answering pings and keeps one that answers (one sweep for all clients)', async () => {
    const pinged = await startGatewayNode({ gateway: { presence: false, wsPingIntervalMs: 500 } });
    try {
      const url = (uid: string) => `${pinged.url.replace(/^http/, 'ws')}/ws?uid=${uid}`;
      const auth = { headers: { authorization: `Bearer ${TEST_TOKEN}` } };
      const mute = new WebSocket(url(uniq('mute')), { ...auth, autoPong: false });
      const live = new WebSocket(url(uniq('live')), auth);
      let livePings = 0;
      live.on('ping', () => (livePings += 1));
      const muteClosed = new Promise<void>((r) => mute.once('close', () => r()));
      await Promise.all([mute, live].map((w) => new Promise((r, j) => (w.once('open', r), w.once('error', j)))));
      await muteClosed;
      // The answering client got pinged across several sweeps after the mute one was closed, and is still open.
      const seen = livePings;
      await waitFor(() => livePings >= seen + 2, 10000, 'two more pings to the live client');
      expect(live.readyState).toBe(WebSocket.OPEN);
      live.close();
    } finally {
      await pinged.close();
    }
  });
});
