import { describe, expect, it } from 'vitest';
import { TEST_TOKEN, uniq } from '../helpers/env.js';
import type { TestService } from '../helpers/service.js';
import { useStack } from '../helpers/stack.js';

let svc: TestService;
useStack({ env: { UNIFIED_REGISTRY_ENABLED: 'true' } }, (s) => {
  svc = s.svc;
});

const post = (payload: string) =>
  svc.app.inject({ method: 'POST', url: '/rpc', headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' }, payload });

describe('hostile input', () => {
  it('deeply nested JSON gets a precise error, never a crash or a stack', async () => {
    const uid = uniq('u');
    await svc.rpc('REGISTRY.register_user', { args: [uid, 's'] });
    const depth = 200_000;
    const body = `{"api_version":"v1","method":"UNIFIED_REGISTRY.update_user_service","idempotency_key":"${uniq('k')}","args":["${uid}","llm",{"deep":${'['.repeat(depth)}${']'.repeat(depth)}}]}`;
    const res = await post(body);
    expect(res.statusCode).toBeLessThan(500);
    const json = res.json();
    expect(json.ok).toBe(false);
    expect(json.error).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringContaining('deeper than 64') });
    expect(res.body).not.toMatch(/RangeError|at .*\.(js|ts):\d+/);
    // The service still answers.
    expect((await svc.rpc('REGISTRY.heartbeat', { args: [uid] })).body.ok).toBe(true);
  });

  it('strings with control characters, unicode and huge lengths are refused by name', async () => {
    for (const user_id of ['\u0000', 'é', 'a'.repeat(129), '../../etc', 'a b', '{tag}', '']) {
      const r = await svc.rpc('REGISTRY.heartbeat', { kwargs: { user_id } });
      expect(r.body.error.code, JSON.stringify(user_id)).toBe('INVALID_ARGS');
      expect(r.body.error.message).toContain('user_id');
    }
    const method = await svc.rpc('<script>alert(1)</script>', {});
    expect(method.body.error.code).toBe('METHOD_NOT_FOUND');
    const wrongTypes = await post('{"api_version":1,"method":["x"],"idempotency_key":{}}');
    expect(wrongTypes.json().error.code).toBe('INVALID_REQUEST');
  });
});
