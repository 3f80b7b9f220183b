import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEvent, type EventEnvelope } from '../../src/shared/events.js';
import { waitReady } from '../../src/shared/redis.js';
import { startFirestore, TEST_TOKEN, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import { clientTracker, connected, recordSocket, recordWs, startGatewayNode, type GatewayNode, type RecordingSocket } from '../helpers/realtimeNode.js';

/**
 * Replay after the connect-time syncs (issue 9 item 5): those syncs are sent to one socket and are
 * not in the history, yet a client may reconnect with their id. One gateway node, real Redis and
 * Firestore emulator, real socket.io and `ws` clients.
 */
const MAX_LEN = 8;
let fs: FirestoreEmulator;
let node: GatewayNode;
const { track, closeAll } = clientTracker();

beforeAll(async () => {
  fs = await startFirestore();
  node = await startGatewayNode({ env: { EVENT_HISTORY_MAXLEN: String(MAX_LEN) } });
  await waitReady(node.core.redis.client); // the request-path client has no offline queue
});
afterAll(async () => {
  closeAll();
  await node?.close();
  fs?.stop();
});

async function connect(uid: string, extra: Record<string, unknown> = {}): Promise<{ s: RecordingSocket; sync: EventEnvelope }> {
  const s = track(recordSocket(node.url, { service_token: TEST_TOKEN, uid, ...extra }));
  await connected(s.socket);
  const sync = await s.next((e) => e.type === 'notif.sync');
  return { s, sync };
}

async function publish(uid: string, n: number, tag: string): Promise<EventEnvelope[]> {
  const out: EventEnvelope[] = [];
  for (let i = 0; i < n; i++) {
    const e = makeEvent('notif.add', uid, { doc_id: `${tag}${i}` });
    await node.core.deps.publisher.publishUser(e);
    out.push(e);
  }
  return out;
}

/** Everything but the fresh syncs a (re)connect always ends with. */
const replayedEvents = (s: RecordingSocket) => s.events.filter((e) => e.type !== 'notif.sync' && e.type !== 'msg.sync');

describe('replay from a connect-time sync id', () => {
  it('gives exactly the events published after the sync, without duplicates (history not empty at connect)', async () => {
    const uid = uniq('rp');
    await publish(uid, 3, 'before');
    const first = await connect(uid);
    expect(first.sync.event_id).toContain('~'); // anchored id, not in the history
    const after = await publish(uid, 5, 'after');
    await waitFor(() => after.every((e) => first.s.events.some((x) => x.event_id === e.event_id)), 10000, 'live delivery');
    first.s.close();

    const second = await connect(uid, { last_event_id: first.sync.event_id });
    await waitFor(() => second.s.replayed.length === 1, 10000, 'replayed notice');
    expect(second.s.replayed[0]).toEqual({ replayed: 5, complete: true, last_event_id: first.sync.event_id });
    expect(replayedEvents(second.s).map((e) => e.event_id)).toEqual(after.map((e) => e.event_id));

    // The same on demand (socket.io `replay`) and on the raw /ws transport.
    const ack = (await second.s.socket.timeout(5000).emitWithAck('replay', first.sync.event_id)) as { replayed: number; complete: boolean };
    expect(ack).toEqual({ replayed: 0, complete: true }); // all five already delivered on this socket
    const ws = track(recordWs(node.url, { service_token: TEST_TOKEN, uid, last_event_id: first.sync.event_id, deltas: '1' }));
    await ws.opened;
    const result = await waitFor(() => ws.frames.find((f) => f.type === 'replay.result'), 10000, 'ws replay.result');
    expect(result).toMatchObject({ replayed: 5, complete: true });
    const wsIds = ws.frames.filter((f) => f.type === 'notif.add').map((f) => f.event_id);
    expect(wsIds).toEqual(after.map((e) => e.event_id));
  });

  it('gives every event when the history was empty at connect', async () => {
    const uid = uniq('rp');
    const first = await connect(uid);
    const after = await publish(uid, 3, 'n');
    await waitFor(() => after.every((e) => first.s.events.some((x) => x.event_id === e.event_id)), 10000, 'live delivery');
    first.s.close();
    const second = await connect(uid, { last_event_id: first.sync.event_id });
    await waitFor(() => second.s.replayed.length === 1, 10000, 'replayed notice');
    expect(second.s.replayed[0]).toMatchObject({ replayed: 3, complete: true });
    expect(replayedEvents(second.s).map((e) => e.event_id)).toEqual(after.map((e) => e.event_id));
  });

  it('says complete:false only when the sync’s point fell out of the window', async () => {
    const uid = uniq('rp');
    await publish(uid, 2, 'before');
    const first = await connect(uid);
    const empty = await connect(uniq('rp-empty'));
    first.s.close();
    empty.s.close();
    // MAX_LEN - 1 later events keep the anchor (the last "before" event) in the window ...
    await publish(uid, MAX_LEN - 1, 'a');
    const kept = await connect(uid, { last_event_id: first.sync.event_id });
    await waitFor(() => kept.s.replayed.length === 1, 10000, 'replayed notice');
    expect(kept.s.replayed[0]).toMatchObject({ replayed: MAX_LEN - 1, complete: true });
    kept.s.close();
    // ... one more pushes it out: everything kept is sent, flagged incomplete.
    await publish(uid, 1, 'b');
    const cut = await connect(uid, { last_event_id: first.sync.event_id });
    await waitFor(() => cut.s.replayed.length === 1, 10000, 'replayed notice');
    expect(cut.s.replayed[0]).toMatchObject({ replayed: MAX_LEN, complete: false });

    // A sync taken on an empty history: complete until the history reached its bound.
    const euid = empty.s.events[0]!.uid;
    await publish(euid, MAX_LEN - 1, 'e');
    const eKept = await connect(euid, { last_event_id: empty.sync.event_id });
    await waitFor(() => eKept.s.replayed.length === 1, 10000, 'replayed notice');
    expect(eKept.s.replayed[0]).toMatchObject({ replayed: MAX_LEN - 1, complete: true });
    await publish(euid, 1, 'f');
    const eCut = await connect(euid, { last_event_id: empty.sync.event_id });
    await waitFor(() => eCut.s.replayed.length === 1, 10000, 'replayed notice');
    expect(eCut.s.replayed[0]).toMatchObject({ replayed: MAX_LEN, complete: false });
  });
});
