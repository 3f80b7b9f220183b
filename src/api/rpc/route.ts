import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { z } from 'zod';
import { AppError, errorEnvelope, isDependencyError, okEnvelope, type ErrorCode } from '../../shared/errors.js';
import type { ServiceDeps } from '../../app/deps.js';
import type { Logger } from '../../shared/logger.js';
import type { Metrics } from '../../shared/metrics.js';
import { assertServiceToken } from '../auth.js';
import { bindArgs, describeIssues, describeMethod, isReadOnly } from './bind.js';
import { Idempotency } from './idempotency.js';
import { replyToProblem } from '../../shared/replyTo.js';
import type { RpcMethod } from './types.js';
import { unknownMethodMessage } from './index.js';

const Envelope = z.object({
  api_version: z.string({ error: 'api_version is required (string)' }).max(32),
  method: z.string({ error: 'method is required (string)' }).min(1).max(128),
  args: z.array(z.unknown(), { error: 'args must be an array' }).max(64).default([]),
  kwargs: z.record(z.string(), z.unknown(), { error: 'kwargs must be an object' }).default({}),
  user_id: z.string({ error: 'user_id must be a string' }).max(128).nullish(),
  session_id: z.string({ error: 'session_id must be a string' }).max(256).nullish(),
  idempotency_key: z.string({ error: 'idempotency_key is required (string)' }).min(1, 'idempotency_key must not be empty').max(256),
  timeout_ms: z.number({ error: 'timeout_ms must be an integer' }).int('timeout_ms must be an integer').min(1).max(300_000).nullish(),
  trace_id: z.string({ error: 'trace_id must be a string' }).max(128).regex(/^[\w.:@-]+$/, 'trace_id may contain only letters, digits and _ . : @ -').nullish(),
  // Checked by replyToProblem() (allow-listed prefixes, plain ASCII, bounded length).
  reply_to: z.string({ error: 'reply_to must be a string' }).nullish(),
});
type Envelope = z.infer<typeof Envelope>;

/** Deepest nesting accepted in a request (objects and arrays); deeper input is refused up front. */
export const MAX_JSON_DEPTH = 64;

/** True when `value` nests deeper than `limit` (iterative: hostile depth cannot overflow the stack). */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

// Every response carries ok, data and error (CONTRACT §13.1).
const ok = (data: unknown) => JSON.stringify(okEnvelope(data));
const fail = (err: AppError) => JSON.stringify(errorEnvelope(err));

/**
 * Runs `work` with a deadline: past `ms` the call answers TIMEOUT and the work's abort signal fires.
 * The AbortController is created only when the work asks for its signal (most handlers never do:
 * one per call showed in the RPC profile).
 */
function withTimeout<T>(work: (signal: () => AbortSignal) => Promise<T>, ms: number): Promise<T> {
  let ctrl: AbortController | undefined;
  let timedOut = false;
  const signal = () => {
    if (!ctrl) {
      ctrl = new AbortController();
      if (timedOut) ctrl.abort();
    }
    return ctrl.signal;
  };
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      timedOut = true;
      ctrl?.abort();
      reject(new AppError('TIMEOUT', `no answer within timeout_ms=${ms}`));
    }, ms);
    const settle = (fn: () => void) => {
      clearTimeout(timer);
      fn();
    };
    // A handler that throws synchronously is routed like one that rejects (normaliseError decides).
    const asError = (e: unknown) => (e instanceof Error ? e : new Error(String(e)));
    let running: Promise<T>;
    try {
      running = work(signal);
    } catch (err) {
      running = Promise.reject(asError(err));
    }
    running.then(
      (v) => settle(() => resolve(v)),
      (e: unknown) => settle(() => reject(asError(e))),
    );
  });
}

/** Turns anything a handler threw into the envelope's vocabulary; unknown errors become INTERNAL. */
export function normaliseError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isDependencyError(err)) return new AppError('UNAVAILABLE', 'a dependency is unavailable; retry later', undefined, 503);
  return new AppError('INTERNAL', 'internal error; see the service log with this trace id');
}

interface RouteTools {
  deps: ServiceDeps;
  idemp: Idempotency;
  /** Methods listed in RPC_IDEMP_DISABLE_METHODS. */
  disabled: ReadonlySet<string>;
  replays: Counter;
  bypassed: Counter;
}
type Counter = ReturnType<Metrics['counter']>;

/** One call after its envelope was parsed and its arguments bound. */
interface Call {
  env: Envelope;
  method: RpcMethod;
  args: unknown;
  callerUserId: string | undefined;
  deadline: number;
  traceId: string;
  log: () => Logger;
}

/** A rendered answer: the JSON text and its error code (undefined on success). */
interface Answer {
  text: string;
  code: ErrorCode | undefined;
}

/** The caller's trace id when it is well-formed, otherwise a fresh one. */
function traceIdOf(body: object): string {
  const traceHint = (body as { trace_id?: unknown }).trace_id;
  return typeof traceHint === 'string' && /^[\w.:@-]{1,128}$/.test(traceHint) ? traceHint : randomUUID();
}

/** Step 1, parse the envelope: depth, shape, api_version, reply_to, method. */
function parseEnvelope(body: object, deps: ServiceDeps, methods: ReadonlyMap<string, RpcMethod>): { env: Envelope; method: RpcMethod } {
  const { rpc } = deps.config;
  if (nestsDeeperThan(body, MAX_JSON_DEPTH)) {
    throw new AppError('INVALID_REQUEST', `request nests deeper than ${MAX_JSON_DEPTH} levels of objects/arrays`);
  }
  const parsed = Envelope.safeParse(body);
  if (!parsed.success) throw new AppError('INVALID_REQUEST', describeIssues(parsed.error).message);
  const env: Envelope = parsed.data;
  if (env.api_version !== rpc.apiVersion) throw new AppError('INVALID_API_VERSION', `api_version must be "${rpc.apiVersion}"`);
  if (env.reply_to !== null && env.reply_to !== undefined) {
    const problem = replyToProblem(env.reply_to, rpc.replyPrefixes);
    if (problem) throw new AppError('INVALID_REQUEST', problem);
  }
  const method = methods.get(env.method);
  if (!method) throw new AppError('METHOD_NOT_FOUND', unknownMethodMessage(env.method));
  return { env, method };
}

/** Step 2, bind the arguments to the method's schema and fix the deadline. */
function bindCall(parsed: { env: Envelope; method: RpcMethod }, deps: ServiceDeps, traceId: string, log: () => Logger): Call {
  const { env, method } = parsed;
  const callerUserId = env.user_id ?? undefined;
  const args = bindArgs(method, env.args, env.kwargs, callerUserId);
  const deadline = Date.now() + (env.timeout_ms ?? deps.config.rpc.defaultTimeoutMs);
  return { env, method, args, callerUserId, deadline, traceId, log };
}

/** Step 4, invoke the handler within the deadline; a thrown error is rendered here (and logged). */
async function invoke(call: Call, deps: ServiceDeps, reply: FastifyReply): Promise<Answer> {
  const { env, method, log } = call;
  try {
    const data = await withTimeout(
      (signal) =>
        method.handler(call.args as never, {
          userId: call.callerUserId,
          sessionId: env.session_id ?? undefined,
          traceId: call.traceId,
          get logger() {
            return log();
          },
          get signal() {
            return signal();
          },
          deps,
        }),
      Math.max(1, call.deadline - Date.now()),
    );
    return { text: ok(data), code: undefined };
  } catch (err) {
    const e = normaliseError(err);
    if (e.code === 'INTERNAL' || e.code === 'UNAVAILABLE') log().error({ err }, 'rpc method failed');
    else log().info({ code: e.code, error_message: e.message }, 'rpc method answered an error');
    if (e.httpStatus !== 200) reply.code(e.httpStatus);
    return { text: fail(e), code: e.code };
  }
}

/**
 * Stores the answer after it is on its way (one round trip off the latency); a duplicate arriving
 * meanwhile waits on the claim and then gets this very text. 'close' covers a caller that went away
 * before the answer was written.
 */
function storeWhenSent(reply: FastifyReply, complete: (body: string, code: ErrorCode | undefined) => Promise<void>, answer: Answer, log: () => Logger): void {
  let storing = false;
  const store = () => {
    if (storing) return;
    storing = true;
    complete(answer.text, answer.code).catch((err: Error) => log().warn({ err: err.message }, 'could not store idempotent response'));
  };
  reply.raw.once('finish', store);
  reply.raw.once('close', store);
}

/** Step 3, idempotency: a stored answer is replayed; otherwise the call runs (step 4) and its answer is stored. */
async function answerOnce(call: Call, t: RouteTools, reply: FastifyReply): Promise<Answer> {
  const { env, method, log } = call;
  const { config } = t.deps;
  const useIdemp = !config.rpc.idempDisable && !isReadOnly(method) && !method.skipIdempotency && !t.disabled.has(method.name);
  if (!useIdemp) return invoke(call, t.deps, reply);
  const fp = Idempotency.fingerprint([env.args, env.kwargs, env.user_id ?? null]);
  let outcome;
  try {
    outcome = await t.idemp.begin(method.name, env.idempotency_key, fp, call.deadline);
  } catch (err) {
    if (err instanceof AppError) throw err;
    // The idempotency store is down: serve the call (the registry may fall back) rather than fail it.
    t.bypassed.inc({ method: method.name });
    log().warn({ err: (err as Error).message }, 'idempotency store unavailable; running without it');
    outcome = undefined;
  }
  if (outcome?.kind === 'replay') {
    t.replays.inc({ method: method.name });
    reply.header('idempotent-replay', 'true');
    return { text: outcome.body, code: (JSON.parse(outcome.body) as { error?: { code: ErrorCode } }).error?.code };
  }
  const answer = await invoke(call, t.deps, reply);
  if (outcome) {
    const claim = outcome;
    storeWhenSent(reply, (body, code) => claim.complete(body, code), answer, log);
  }
  return answer;
}

/** Step 5, render: ORIGINAL §1.6 / CONTRACT §13.1, on success only the response body plus trace_id goes to reply_to. */
async function publishReply(call: Call, answer: Answer, deps: ServiceDeps): Promise<void> {
  if (!call.env.reply_to || answer.code !== undefined) return;
  const published = `${answer.text.slice(0, -1)},"trace_id":${JSON.stringify(call.traceId)}}`;
  await deps.redis.publish(call.env.reply_to, published).catch((err: Error) => call.log().warn({ err: err.message }, 'reply_to publish failed'));
}

/** The bearer check before the body is read (401/403 through the error handler). */
function tokenGuard(expected: string | undefined): onRequestHookHandler {
  return (req, _reply, done) => {
    try {
      assertServiceToken(req.headers.authorization, expected);
    } catch (err) {
      return done(err as Error);
    }
    done();
  };
}

function routeTools(deps: ServiceDeps): RouteTools {
  const { config, metrics } = deps;
  return {
    deps,
    idemp: new Idempotency(deps.redis, config.rpc.idempTtlSeconds),
    disabled: new Set(config.rpc.idempDisableMethods),
    replays: metrics.counter('rpc_idempotent_replays_total', 'Responses served from the idempotency store', ['method']),
    bypassed: metrics.counter('rpc_idempotency_bypassed_total', 'Calls run without idempotency because its store failed', ['method']),
  };
}

/** POST /rpc and GET /rpc/methods (CONTRACT §3): parse envelope → bind args → idempotency → invoke → render. */
export function registerRpcRoutes(app: FastifyInstance, deps: ServiceDeps, methods: ReadonlyMap<string, RpcMethod>): void {
  const { config, metrics } = deps;
  const requests = metrics.counter('rpc_requests_total', 'RPC calls by method and result code', ['method', 'code']);
  const duration = metrics.histogram('rpc_duration_seconds', 'RPC handling time', ['method'], [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15]);
  const tools = routeTools(deps);
  const catalogue = [...methods.values()].map(describeMethod);

  app.get('/rpc/methods', () => Promise.resolve(okEnvelope({ api_version: config.rpc.apiVersion, methods: catalogue })));

  app.post('/rpc', {
    onRequest: tokenGuard(config.serviceToken),
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      const started = process.hrtime.bigint();
      const body = req.body;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        throw new AppError('INVALID_REQUEST', 'request body must be a JSON object', undefined, 400);
      }
      const traceId = traceIdOf(body);
      reply.header('x-trace-id', traceId);
      // Child loggers are built only when something is logged: creating them per request showed in profiles.
      const bindings: Record<string, unknown> = { trace_id: traceId };
      let child: Logger | undefined;
      const log = () => (child ??= (req.log as Logger).child(bindings));

      let metricName = 'invalid';
      let code: ErrorCode | 'OK' = 'OK';
      try {
        const parsed = parseEnvelope(body, deps, methods);
        metricName = parsed.method.name;
        const call = bindCall(parsed, deps, traceId, log);
        Object.assign(bindings, { method: call.method.name, user_id: call.callerUserId, session_id: call.env.session_id ?? undefined });
        const answer = await answerOnce(call, tools, reply);
        code = answer.code ?? 'OK';
        await publishReply(call, answer, deps);
        return reply.type('application/json').send(answer.text);
      } catch (err) {
        const e = normaliseError(err);
        code = e.code;
        if (e.code === 'INTERNAL') log().error({ err }, 'rpc failed');
        if (e.httpStatus !== 200) reply.code(e.httpStatus);
        return reply.type('application/json').send(fail(e));
      } finally {
        requests.inc({ method: metricName, code });
        duration.observe({ method: metricName }, Number(process.hrtime.bigint() - started) / 1e9);
      }
    },
  });
}
