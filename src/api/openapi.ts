/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the RPC catalogue's zod schemas (the
 * very schemas `/rpc` validates with), plus the ops endpoints; Swagger UI serves it at `/docs`
 * (`/docs/json` is the document). Nothing here lists methods by hand: a method added to
 * `src/api/rpc/index.ts` appears in the document.
 *
 * `/rpc` is one POST endpoint whose body names the method, so each method becomes two components
 * (`<METHOD>.args`: its keyword arguments; `<METHOD>.result`: `data` of a successful answer) and one
 * request variant (`<METHOD>.request`) in a `oneOf` keyed by `method` (a discriminator).
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ERROR_CODES } from '../shared/errors.js';
import { isReadOnly } from './rpc/bind.js';
import type { RpcMethod } from './rpc/types.js';

export const DOCS_PATH = '/docs';

type Schema = Record<string, unknown>;

/** zod → JSON Schema 2020-12 (what OpenAPI 3.1 uses), without the `$schema` header. */
function jsonSchema(s: z.ZodType, io: 'input' | 'output'): Schema {
  const out = z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Schema;
  delete out.$schema;
  return out;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function errorBody(): Schema {
  return {
    type: 'object',
    required: ['ok', 'error'],
    properties: {
      ok: { const: false },
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', enum: [...ERROR_CODES] },
          message: { type: 'string' },
          details: { type: 'object' },
        },
      },
    },
  };
}

const json = (schema: Schema, description: string) => ({ description, content: { 'application/json': { schema } } });

// The OpenAPI document is one nested literal (paths, components) read top to bottom like the
// document it produces; splitting it into functions would scatter that shape.
// eslint-disable-next-line max-lines-per-function -- a declarative document, see above
export function openApiDocument(methods: readonly RpcMethod[], o: { version: string; apiVersion: string }): Schema {
  const schemas: Record<string, Schema> = {
    RpcError: errorBody(),
    Envelope: {
      type: 'object',
      description: 'Fields every /rpc request carries; `args` (positional, in the order of the method\'s arguments) and `kwargs` (by name) may be mixed.',
      required: ['api_version', 'method', 'idempotency_key'],
      properties: {
        api_version: { const: o.apiVersion },
        method: { type: 'string', maxLength: 128 },
        args: { type: 'array', maxItems: 64, default: [] },
        kwargs: { type: 'object', default: {} },
        user_id: { type: ['string', 'null'], maxLength: 128, description: 'Caller; methods with a `user_id` argument default to it.' },
        session_id: { type: ['string', 'null'], maxLength: 256 },
        idempotency_key: { type: 'string', minLength: 1, maxLength: 256, description: 'Same key + same arguments within the TTL answers the stored response (header idempotent-replay: true); read-only methods skip it.' },
        timeout_ms: { type: ['integer', 'null'], minimum: 1, maximum: 300000 },
        trace_id: { type: ['string', 'null'], maxLength: 128, pattern: '^[\\w.:@-]+$' },
        reply_to: { type: ['string', 'null'], minLength: 1, maxLength: 256, description: 'A Redis channel the answer is also published on (never a user or chat event channel).' },
      },
    },
  };
  const variants: Schema[] = [];
  const mapping: Record<string, string> = {};
  for (const m of methods) {
    const args = jsonSchema(m.args, 'input');
    schemas[`${m.name}.args`] = { ...args, description: `Keyword arguments of ${m.name} (positional order: ${Object.keys(m.args.shape).join(', ') || 'none'}).` };
    schemas[`${m.name}.result`] = m.result ? jsonSchema(m.result, 'output') : { description: `\`data\` of a successful ${m.name} answer (shape not declared in the method's module; see docs/).` };
    schemas[`${m.name}.request`] = {
      description: `${m.description}${isReadOnly(m) ? ' (read-only: no idempotency)' : ''}`,
      allOf: [
        ref('Envelope'),
        {
          type: 'object',
          required: ['method'],
          properties: { method: { const: m.name }, kwargs: ref(`${m.name}.args`) },
        },
      ],
    };
    variants.push(ref(`${m.name}.request`));
    mapping[m.name] = `#/components/schemas/${m.name}.request`;
  }
  schemas.RpcRequest = { oneOf: variants, discriminator: { propertyName: 'method', mapping } };
  schemas.RpcSuccess = {
    type: 'object',
    required: ['ok', 'data'],
    properties: { ok: { const: true }, data: { description: 'The method\'s result: see the `<METHOD>.result` component.' } },
  };

  const bearer = [{ serviceToken: [] }];
  const obj = (properties: Record<string, Schema>, required: string[] = []) => ({ type: 'object', properties, required });
  return {
    openapi: '3.1.0',
    info: {
      title: 'pinnokio realtime',
      version: o.version,
      description: `RPC over HTTP (api_version "${o.apiVersion}"), realtime gateway and ops endpoints. Each RPC method has an \`<METHOD>.args\` and an \`<METHOD>.result\` component below.`,
    },
    servers: [{ url: '/' }],
    tags: [{ name: 'rpc' }, { name: 'ops' }],
    'x-rpc-methods': methods.map((m) => m.name),
    components: {
      securitySchemes: { serviceToken: { type: 'http', scheme: 'bearer', description: 'LISTENERS_SERVICE_TOKEN' } },
      schemas,
    },
    paths: {
      '/rpc': {
        post: {
          tags: ['rpc'],
          operationId: 'rpc',
          summary: 'Call one RPC method',
          description: `Methods: ${methods.map((m) => `\`${m.name}\``).join(', ')}.`,
          security: bearer,
          requestBody: { required: true, content: { 'application/json': { schema: ref('RpcRequest') } } },
          responses: {
            '200': json({ oneOf: [ref('RpcSuccess'), ref('RpcError')] }, 'The answer envelope; method-level errors are also HTTP 200 with ok=false (CONTRACT §3)'),
            '400': json(ref('RpcError'), 'Malformed request'),
            '401': json(ref('RpcError'), 'Missing service token'),
            '403': json(ref('RpcError'), 'Invalid service token'),
            '503': json(ref('RpcError'), 'A dependency is unavailable'),
          },
        },
      },
      '/rpc/methods': {
        get: {
          tags: ['rpc'],
          operationId: 'rpcMethods',
          summary: 'The method catalogue with argument names and types',
          responses: { '200': json(obj({ ok: { const: true }, data: obj({ api_version: { type: 'string' }, methods: { type: 'array', items: obj({ name: { type: 'string' }, description: { type: 'string' }, read_only: { type: 'boolean' }, args: { type: 'array' } }) } }) }), 'The catalogue') },
        },
      },
      '/healthz': {
        get: {
          tags: ['ops'],
          operationId: 'healthz',
          summary: 'Liveness and a summary of dependencies (always 200; status "degraded" when a check fails)',
          responses: {
            '200': json(
              obj({
                status: { enum: ['ok', 'degraded'] },
                version: { type: 'string' },
                listeners_count: { type: 'integer' },
                workflow_listeners_count: { type: 'integer' },
                redis: { enum: ['ok', 'error'] },
                uptime_s: { type: 'integer' },
                region: { type: ['string', 'null'] },
                registry_mode: { enum: ['legacy', 'rollout', 'unified'] },
                role: { type: 'string' },
                instance_id: { type: 'string' },
                failing: { type: 'array', items: { type: 'string' } },
              }),
              'Health summary',
            ),
          },
        },
      },
      '/readyz': {
        get: {
          tags: ['ops'],
          operationId: 'readyz',
          summary: 'Readiness: 200 when every required dependency answers',
          responses: {
            '200': json(obj({ ok: { const: true } }), 'Ready'),
            '503': json(obj({ ok: { const: false }, failing: { type: 'array', items: { type: 'string' } } }), 'A required dependency fails'),
          },
        },
      },
      '/version': { get: { tags: ['ops'], operationId: 'version', summary: 'Service version', responses: { '200': json(obj({ version: { type: 'string' } }, ['version']), 'Version') } } },
      '/metrics': {
        get: {
          tags: ['ops'],
          operationId: 'metrics',
          summary: 'Prometheus metrics of this process',
          responses: { '200': { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
      '/debug': {
        get: {
          tags: ['ops'],
          operationId: 'debug',
          summary: 'Dependencies, registry mode, listener counts, redacted configuration and process figures',
          security: bearer,
          responses: {
            '200': json(obj({ ok: { const: true }, data: obj({ dependencies: { type: 'array' }, registry_mode: { type: 'string' }, master_switch: { type: 'boolean' }, listeners: {}, config: { type: 'object' }, process: { type: 'object' } }) }), 'Debug data'),
            '401': json(ref('RpcError'), 'Missing service token'),
            '403': json(ref('RpcError'), 'Invalid service token'),
          },
        },
      },
    },
  };
}

/** Serves the document (static mode of @fastify/swagger) and Swagger UI at /docs (its assets come from node_modules: works offline). */
export async function registerOpenApi(app: FastifyInstance, methods: readonly RpcMethod[], o: { version: string; apiVersion: string }): Promise<void> {
  const document = openApiDocument(methods, o);
  await app.register(swagger, { mode: 'static', specification: { document: document as never } });
  await app.register(swaggerUi, { routePrefix: DOCS_PATH, uiConfig: { docExpansion: 'list', deepLinking: true }, staticCSP: true });
}
