/**
 * bench/fanout client process: holds `count` connections (socket.io websocket-only, or raw ws) for
 * uids `bu{start}`..`bu{start+count-1}` and records PUBLISH → receipt latency from the `t` in each
 * event's payload (process.hrtime is CLOCK_MONOTONIC, shared by every process on the machine).
 * Usage (by bench/fanout.ts): tsx bench/fanout-client.ts <sio|gws|ws> <url> <start> <count> <token>
 */
import { io } from 'socket.io-client';
import { WebSocket } from 'ws';

const [kind, url, startS, countS, token] = process.argv.slice(2) as [string, string, string, string, string];
const start = Number(startS);
const count = Number(countS);
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
let latencies: number[] = [];
// Each rate is a phase: events carry its number (`ph`) and a sequence number (`n`), so an event of
// an earlier phase arriving late is counted as stale, not as delivered, and a duplicate is seen.
let phase = -1;
let seen = new Set<number>();
let stale = 0;
let duplicates = 0;
let connectedN = 0;
let failed = 0;
const closers: Array<() => void> = [];

function onEnvelope(e: { payload?: { t?: number; n?: number; ph?: number } }) {
  const { t, n, ph } = e.payload ?? {};
  if (typeof t !== 'number' || typeof n !== 'number') return;
  if (ph !== phase) stale++;
  else if (seen.has(n)) duplicates++;
  else {
    seen.add(n);
    latencies.push(nowMs() - t);
  }
}

function connectOne(i: number): Promise<void> {
  const uid = `bu${i}`;
  return new Promise((resolve) => {
    if (kind === 'sio') {
      const s = io(url, { transports: ['websocket'], auth: { service_token: token, uid }, reconnection: false, forceNew: true, timeout: 60000 });
      s.on('event', onEnvelope);
      s.once('connect', () => {
        connectedN++;
        resolve();
      });
      s.once('connect_error', () => {
        failed++;
        resolve();
      });
      closers.push(() => s.close());
    } else {
      // 'ws': the bare baseline server; 'gws': the gateway's own /ws endpoint (service token + uid).
      const headers = kind === 'gws' ? { authorization: `Bearer ${token}` } : undefined;
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws?uid=${uid}`, { perMessageDeflate: false, ...(headers ? { headers } : {}) });
      ws.on('message', (d) => onEnvelope(JSON.parse((d as Buffer).toString('utf8')) as { payload?: { t?: number; n?: number; ph?: number } }));
      ws.once('open', () => {
        connectedN++;
        resolve();
      });
      ws.once('error', () => {
        failed++;
        resolve();
      });
      closers.push(() => ws.terminate());
    }
  });
}

let next = start;
const end = start + count;
await Promise.all(
  Array.from({ length: 100 }, async () => {
    while (next < end) await connectOne(next++);
  }),
);
process.send?.({ connected: connectedN, failed });
process.on('message', (m: { cmd: string; phase?: number }) => {
  if (m.cmd === 'reset') {
    latencies = [];
    phase = m.phase ?? -1;
    seen = new Set();
    stale = duplicates = 0;
    process.send?.({ reset: true });
  } else if (m.cmd === 'report') {
    process.send?.({ latencies, stale, duplicates });
  } else if (m.cmd === 'stop') {
    for (const c of closers) c();
    setTimeout(() => process.exit(0), 200).unref();
  }
});
