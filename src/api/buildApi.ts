import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { DependencyCheck, ServiceDeps } from '../app/deps.js';
import { installErrorHandling } from './errorHandler.js';
import { registerOpenApi } from './openapi.js';
import { HealthMonitor, registerOpsRoutes } from './ops.js';
import { catalogueMap, CATALOGUE } from './rpc/index.js';
import { registerRpcRoutes } from './rpc/route.js';
import type { RpcMethod } from './rpc/types.js';

export interface BuildApiOptions {
  /** The RPC catalogue; tests may add methods (for example one that throws) to exercise paths. */
  methods?: readonly RpcMethod[];
  /** Checks /healthz and /readyz run after `deps.checks`, read on every run (tests add one while the service runs). */
  extraHealthChecks?: readonly DependencyCheck[];
}

/**
 * The HTTP app (not listening): RPC, ops endpoints, error rendering. The socket.io gateway, /ws
 * and the queue dashboard attach to the returned instance from the composition root.
 */
export function buildApi(deps: ServiceDeps, opts: BuildApiOptions = {}): FastifyInstance {
  const app = Fastify({
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- tsc needs it: without it Fastify infers the instance's logger type as pino's Logger and the return type no longer fits FastifyInstance
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
  // A body over the limit is refused before it has been read. Fastify then answers 413 with
  // `connection: close`, and Node closes the socket while the client is still sending: the unread
  // bytes make the kernel reset the connection, and the client often loses the 413 it had not read
  // yet. So the rest of the request is read (and discarded, bounded) before the answer is sent.
  app.addHook('onSend', async (req, reply, payload) => {
    if (reply.statusCode === 413) await drainRequest(req.raw, DRAIN_MAX_BYTES, DRAIN_MAX_MS);
    return payload;
  });
  registerOpsRoutes(app, deps, new HealthMonitor(opts.extraHealthChecks ? () => [...deps.checks, ...opts.extraHealthChecks!] : () => deps.checks));
  const methods = catalogueMap(opts.methods ?? CATALOGUE);
  registerRpcRoutes(app, deps, methods);
  void app.register(async (scope) => registerOpenApi(scope, [...methods.values()], { version: deps.config.serviceVersion, apiVersion: deps.config.rpc.apiVersion }));
  return app;
}

/** Bounds for reading the rest of a refused body: past them the connection is closed regardless. */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;
const DRAIN_MAX_MS = 15000;

/** Reads and discards what is left of a request body; resolves at its end or at a bound. */
export function drainRequest(req: IncomingMessage, maxBytes: number, maxMs: number): Promise<void> {
  if (req.complete || req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const finish = () => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', finish);
      req.off('error', finish);
      req.off('close', finish);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) finish();
    };
    const timer = setTimeout(finish, maxMs);
    timer.unref?.();
    req.on('data', onData);
    req.on('end', finish);
    req.on('error', finish);
    req.on('close', finish);
    req.resume();
  });
}
