import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnifiedRegistryStore } from '../../src/registry/unifiedStore.js';
import { startScheduler } from '../../src/scheduler/index.js';
import { SCHEDULES } from '../../src/scheduler/schedules.js';
import { keys } from '../../src/shared/keys.js';
import { startWorkers } from '../../src/workers/index.js';
import { startFirestore, uniq, waitFor, type FirestoreEmulator } from '../helpers/env.js';
import { startTestService, type TestService } from '../helpers/service.js';

let fs: FirestoreEmulator;
let beatA: TestService;
let beatB: TestService;
const prefix = uniq('q');

beforeAll(async () => {
  fs = await startFirestore();
  // Two "beat + worker" processes on the same queue Redis and prefix.
  beatA = await startTestService({ env: { QUEUE_PREFIX: prefix, LISTENERS_TTL_SECONDS: '30' }, core: { tasks: true } });
  beatB = await startTestService({ env: { QUEUE_PREFIX: prefix, LISTENERS_TTL_SECONDS: '30' }, core: { tasks: true } });
});
afterAll(async () => {
  await beatA?.close();
  await beatB?.close();
  fs?.stop();
});

describe('scheduler (beat)', () => {
  it('declares the listed schedulers, removes undeclared ones, and two beats run each tick once', async () => {
    const maintenance = beatA.core.tasks!.queues.get('maintenance');
    await maintenance.upsertJobScheduler('obsolete_job', { every: 3_600_000 }, { name: 'dependency_health', data: { payload: {} } });

    // Seed the unified registry: one user whose last activity is long past the TTL, one fresh user.
    const redis = beatA.core.deps.redis;
    const company = uniq('co');
    const stale = uniq('stale');
    const fresh = uniq('fresh');
    const past = new UnifiedRegistryStore(redis, { heartbeatTtlSeconds: 30, now: () => new Date(Date.now() - 10 * 60_000) });
    await past.registerUserSession({ userId: stale, sessionId: uniq('s'), companyId: company, authorizedCompanies: [company], backendRoute: null });
    const now = new UnifiedRegistryStore(redis, { heartbeatTtlSeconds: 30 });
    await now.registerUserSession({ userId: fresh, sessionId: uniq('s'), companyId: company, authorizedCompanies: [company], backendRoute: null });

    const schedules = [
      { id: 'dependency_health', everyMs: 250 },
      { id: 'registry_cleanup', everyMs: 250 },
    ];
    const [a, b] = await Promise.all([startScheduler({ core: beatA.core }, { schedules, redeclareMs: 0 }), startScheduler({ core: beatB.core }, { schedules, redeclareMs: 0 })]);
    const ids = (await maintenance.getJobSchedulers(0, -1)).map((s) => s.key).sort();
    expect(ids).toEqual(['dependency_health', 'registry_cleanup']);
    expect((await a.declare()).removed).toEqual([]);

    await Promise.all([beatA, beatB].map((s) => startWorkers({ core: s.core }, { queues: ['maintenance'], concurrency: 4 })));
    const done = async () => (await maintenance.getJobs(['completed'], 0, -1)).filter((j) => j.name === 'dependency_health');
    const ticks = await waitFor(async () => {
      const j = await done();
      return j.length >= 4 ? j : null;
    }, 20000, 'four dependency_health ticks');
    await a.close();
    await b.close();

    // Each tick is one job (id derived from the tick time) and ran exactly once across both workers.
    const tickIds = ticks.map((j) => String(j.id));
    expect(new Set(tickIds).size).toBe(tickIds.length);
    expect(tickIds.filter((id) => !id.startsWith('repeat:dependency_health:'))).toEqual([]);
    const runs = await Promise.all(tickIds.map((id) => redis.get(keys.schedulerRuns(`dependency_health:${id}`))));
    expect(runs).toEqual(tickIds.map(() => '1'));

    // dependency_health recorded each dependency; registry_cleanup did real work on the index.
    const health = await redis.hgetall(keys.dependencyHealth());
    expect(Object.keys(health).sort()).toEqual(['firestore', 'queue_redis', 'redis']);
    for (const v of Object.values(health)) expect(JSON.parse(v)).toMatchObject({ ok: true });
    await waitFor(async () => (await redis.zscore(keys.activeUsers(), stale)) === null, 10000, 'stale user leaves the index');
    expect((await now.getUserRegistry(stale))!.user_info.status).toBe('offline');
    expect(await redis.zscore(keys.company(company), stale)).toBeNull();
    expect(await redis.zscore(keys.activeUsers(), fresh)).not.toBeNull();
    expect((await now.getUserRegistry(fresh))!.user_info.status).toBe('online');
    expect(await now.getCompanyActiveUsers(company)).toEqual([fresh]);
  });

  it('declares the contract periods by default', () => {
    expect(Object.fromEntries(SCHEDULES.map((s) => [s.id, s.everyMs]))).toEqual({ registry_cleanup: 300_000, dependency_health: 60_000, listener_expiry: 60_000 });
  });
});
