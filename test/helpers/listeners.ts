import FirebaseServer from 'firebase-server';
import { FieldValue, Timestamp, type Firestore } from 'firebase-admin/firestore';
import type { ListenersHandle } from '../../src/listeners/index.js';
import type { ListenerOptions } from '../../src/listeners/options.js';
import { uniq } from './env.js';
import { freePort, waitForPort } from './net.js';
import { startTestService, type TestService } from './service.js';

/** Small timing knobs for tests (production defaults are in src/listeners/options.ts). */
export const FAST: Partial<ListenerOptions> = {
  expiryCheckMs: 100,
  detachGraceMs: 200,
  leaseTtlMs: 1500,
  leaseRenewMs: 300,
  leaseRetryMs: 200,
  reconcileMs: 1000,
  backoffBaseMs: 50,
  backoffMaxMs: 500,
  // Test files share one Redis but each has its own Firestore emulator: one deployment per file.
  instanceGroup: uniq('deployment'),
};

export interface Rtdb {
  host: string;
  server: FirebaseServer;
  stop(): Promise<void>;
}

/**
 * A real Realtime Database wire server (firebase-server) on a free port, namespace = the test
 * project id; sets FIREBASE_DATABASE_EMULATOR_HOST for this test file's process (firebase-admin
 * then authenticates with the emulator credential "owner").
 */
export async function startRtdb(ns = 'demo-test'): Promise<Rtdb> {
  const port = await freePort();
  const server = new FirebaseServer({ port, address: '127.0.0.1' }, ns, null);
  server.setAuthSecret('owner');
  await waitForPort(port, 10000);
  const host = `127.0.0.1:${port}`;
  process.env.FIREBASE_DATABASE_EMULATOR_HOST = host;
  return { host, server, stop: () => server.close() };
}

export interface ListenerNode {
  svc: TestService;
  listeners: ListenersHandle;
  close(): Promise<void>;
}

/** A test service (core + app) with the listeners started on it, as main.ts would for role api. */
export async function startListenerNode(o: { env?: Record<string, string>; options?: Partial<ListenerOptions>; rtdbHost?: string } = {}): Promise<ListenerNode> {
  const svc = await startTestService({
    env: { ...(o.rtdbHost ? { FIREBASE_DATABASE_EMULATOR_HOST: o.rtdbHost } : {}), ...o.env },
    core: { listeners: 'watchers', listenerOptions: { ...FAST, ...o.options } },
  });
  const listeners = await svc.core.listeners!.start();
  return { svc, listeners, close: () => svc.close() };
}

/** Writes the presence document the way the registry does (server Timestamp heartbeat). */
export async function setPresence(db: Firestore, uid: string, p: { status?: 'online' | 'offline'; ttl?: number; companies?: string[] } = {}): Promise<void> {
  const data: Record<string, unknown> = { status: p.status ?? 'online', heartbeat_at: FieldValue.serverTimestamp(), ttl_seconds: p.ttl ?? 90 };
  if (p.companies) data.authorized_companies_ids = p.companies;
  await db.collection('listeners_registry').doc(uid).set(data, { merge: true });
}

export function notifications(db: Firestore, uid: string) {
  return db.collection('clients').doc(uid).collection('notifications');
}

export const ts = (iso: string) => Timestamp.fromDate(new Date(iso));
