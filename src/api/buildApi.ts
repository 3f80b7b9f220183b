import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../app/deps.js';
import { installErrorHandling } from './errorHandler.js';
import { registerOpenApi } from './openapi.js';
import { registerOpsRoutes } from './ops.js';
import { catalogueMap, CATALOGUE } from './rpc/index.js';
import { registerRpcRoutes } from './rpc/route.js';
import type { RpcMethod } from './rpc/types.js';

export interface BuildApiOptions {
  /** The RPC catalogue; tests may add methods (for example one that throws) to exercise paths. */
  methods?: readonly RpcMethod[];
}

/**
 * The HTTP app (not listening): RPC, ops endpoints, error rendering. The socket.io gateway, /ws
 * and the queue dashboard attach to the returned instance from the composition root.
 */
export function buildApi(deps: ServiceDeps, opts: BuildApiOptions = {}): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.config.rpc.bodyLimitBytes,
    trustProxy: true,
    return503OnClosing: true,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
  });
  installErrorHandling(app);
  registerOpsRoutes(app, deps);
  const methods = catalogueMap(opts.methods ?? CATALOGUE);
  registerRpcRoutes(app, deps, methods);
  void app.register(async (scope) => registerOpenApi(scope, [...methods.values()], { version: deps.config.serviceVersion, apiVersion: deps.config.rpc.apiVersion }));
  return app;
}
