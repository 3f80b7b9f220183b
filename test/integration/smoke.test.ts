import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFirestore, uniq, type FirestoreEmulator } from '../helpers/env.js';
import { startTestService, type TestService } from '../helpers/service.js';

let fs: FirestoreEmulator;
let svc: TestService;
beforeAll(async () => {
  fs = await startFirestore();
  svc = await startTestService({ env: { UNIFIED_REGISTRY_ENABLED: 'true' } });
});
afterAll(async () => {
  await svc?.close();
  fs?.stop();
});

describe('smoke', () => {
  it('registers and reads back a user', async () => {
    const uid = uniq('u');
    const r = await svc.rpc('REGISTRY.register_user', { args: [uid, 's1'] });
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(true);
    const g = await svc.rpc('UNIFIED_REGISTRY.get_user_registry', { kwargs: { user_id: uid } });
    expect(g.body.data.user_info.user_id).toBe(uid);
    const snap = await svc.core.firebase.firestore.collection('listeners_registry').doc(uid).get();
    expect(snap.get('status')).toBe('online');
  });
});
