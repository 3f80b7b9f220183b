import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { CATALOGUE } from '../../src/api/rpc/index.js';
import { uniq } from '../helpers/env.js';
import type { TestService } from '../helpers/service.js';
import { useStack } from '../helpers/stack.js';

/** /docs (Swagger UI) and its OpenAPI document, generated from the RPC catalogue's zod schemas. */
let svc: TestService;
useStack({ env: { UNIFIED_REGISTRY_ENABLED: 'true', QUEUE_PREFIX: uniq('q') }, core: { tasks: true, listeners: 'bookkeeping' } }, (s) => {
  svc = s.svc;
});

describe('OpenAPI document and /docs', () => {
  it('serves Swagger UI at /docs with its assets from the service (no CDN)', async () => {
    const bare = await svc.app.inject({ method: 'GET', url: '/docs' });
    expect(bare.statusCode, 'GET /docs').toBeLessThan(400);
    const page = await svc.app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('swagger-ui');
    expect(page.body).not.toMatch(/https?:\/\/(?!localhost)[a-z0-9.-]+\.(com|org|net|io)\//i);
    const bundle = await svc.app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' });
    expect(bundle.statusCode).toBe(200);
  });

  it('validates as OpenAPI 3.1, every $ref resolves, and it lists every catalogue method with args and result', async () => {
    const res = await svc.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json<Record<string, any>>();
    const validator = new Validator();
    const verdict = await validator.validate(doc);
    expect(verdict.errors ?? []).toEqual([]);
    expect(verdict.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(() => validator.resolveRefs()).not.toThrow();

    const schemas = doc.components.schemas as Record<string, any>;
    const mapping = schemas.RpcRequest.discriminator.mapping as Record<string, string>;
    expect(Object.keys(mapping).sort()).toEqual(CATALOGUE.map((m) => m.name).sort());
    expect(doc['x-rpc-methods']).toEqual(CATALOGUE.map((m) => m.name));
    for (const m of CATALOGUE) {
      expect(schemas[`${m.name}.args`], m.name).toBeDefined();
      expect(schemas[`${m.name}.result`], m.name).toBeDefined();
      expect(Object.keys(schemas[`${m.name}.args`].properties ?? {}), m.name).toEqual(Object.keys(m.args.shape));
    }
    // The args components are the schemas /rpc validates with: required names and limits carry over.
    const reg = schemas['REGISTRY.register_user.args'];
    expect(reg.required).toEqual(['user_id', 'session_id']);
    expect(reg.properties.user_id).toMatchObject({ type: 'string', maxLength: 128 });
    for (const p of ['/rpc', '/rpc/methods', '/healthz', '/readyz', '/version', '/metrics', '/debug']) expect(doc.paths[p], p).toBeDefined();
    expect(doc.paths['/rpc'].post.security).toEqual([{ serviceToken: [] }]);
  });

  it('the declared result shapes match real answers', async () => {
    const byName = new Map(CATALOGUE.map((m) => [m.name, m]));
    const uid = uniq('u');
    const tid = uniq('t');
    const col = uniq('col');
    const calls: Array<[string, Record<string, unknown>]> = [
      ['REGISTRY.register_user', { user_id: uid, session_id: uniq('s') }],
      ['REGISTRY.heartbeat', { user_id: uid }],
      ['UNIFIED_REGISTRY.register_user_session', { user_id: uid, session_id: uniq('s'), company_id: 'acme', authorized_companies: ['acme'] }],
      ['UNIFIED_REGISTRY.get_user_registry', { user_id: uid }],
      ['UNIFIED_REGISTRY.update_user_heartbeat', { user_id: uid }],
      ['UNIFIED_REGISTRY.get_company_active_users', { company_id: 'acme' }],
      ['UNIFIED_REGISTRY.register_task', { task_id: tid, task_type: 'document_analysis', user_id: uid, company_id: 'acme' }],
      ['UNIFIED_REGISTRY.update_task_progress', { task_id: tid, status: 'processing', progress_percent: 10 }],
      ['UNIFIED_REGISTRY.get_task_registry', { task_id: tid }],
      ['UNIFIED_REGISTRY.get_task_registry', { task_id: uniq('missing') }],
      // TASK.* (queued only: no worker runs in this file), REGISTRY listener bookkeeping, CHROMA_VECTOR.
      ['TASK.start_vector_computation', { user_id: uid, documents: [{ id: 'd1', text: 'invoice 42' }], collection_name: col }],
      ['TASK.start_document_analysis', { user_id: uid, document_data: { content: 'Invoice 42 Total 120.00 EUR' }, job_id: uniq('j') }],
      ['TASK.get_task_status', { task_id: `embeddings_${col}` }],
      ['TASK.list_user_tasks', { user_id: uid }],
      ['TASK.query_vectors', { collection_name: col, query: 'invoice' }],
      ['TASK.cancel_task', { task_id: `embeddings_${col}` }],
      ['REGISTRY.register_listener', { user_id: uid, listener_type: 'notif' }],
      ['REGISTRY.register_listener', { user_id: uid, listener_type: 'notif' }],
      ['REGISTRY.register_listener', { user_id: uid, listener_type: 'chat' }],
      ['REGISTRY.check_listener_status', { user_id: uid, listener_type: 'notif' }],
      ['REGISTRY.update_listener_heartbeat', { user_id: uid, listener_type: 'notif' }],
      ['REGISTRY.list_user_listeners', { user_id: uid }],
      ['REGISTRY.unregister_listener', { user_id: uid, listener_type: 'notif' }],
      ['REGISTRY.cleanup_user_listeners', { user_id: uid }],
      ['CHROMA_VECTOR.register_collection_user', { user_id: uid, collection_name: col, session_id: uniq('s') }],
      ['CHROMA_VECTOR.heartbeat_collection', { user_id: uid, collection_name: col }],
      ['CHROMA_VECTOR.unregister_collection_user', { user_id: uid, collection_name: col }],
    ];
    for (const [name, kwargs] of calls) {
      const res = await svc.rpc(name, { kwargs });
      expect(res.body.ok, `${name}: ${res.raw}`).toBe(true);
      const schema = byName.get(name)?.result;
      expect(schema, name).toBeDefined();
      const parsed = schema!.safeParse(res.body.data);
      expect(parsed.success, `${name}: ${parsed.error?.message} for ${JSON.stringify(res.body.data)}`).toBe(true);
    }
  });

  it('keeps GET /rpc/methods', async () => {
    const res = await svc.app.inject({ method: 'GET', url: '/rpc/methods' });
    expect(res.statusCode).toBe(200);
    expect(res.json<{ data: { methods: unknown[] } }>().data.methods).toHaveLength(CATALOGUE.length);
  });
});
