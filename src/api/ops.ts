import type { FastifyInstance } from 'fastify';
import { describeConfig } from '../config/load.js';
import type { DependencyCheck, ServiceDeps } from '../app/deps.js';
import { assertServiceToken } from './auth.js';

async function runCheck(c: DependencyCheck, timeoutMs = 2000) {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const r = await Promise.race([
      c.check(),
      new Promise<{ ok: boolean; detail?: string; latency_ms?: number }>((resolve) => {
        timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
      }),
    ]);
    return { name: c.name, required: c.required, ...r, latency_ms: r.latency_ms ?? Date.now() - started };
  } catch (err) {
    return { name: c.name, required: c.required, ok: false, detail: (err as Error).message.slice(0, 200), latency_ms: Date.now() - started };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

function registryMode(deps: ServiceDeps): string {
  if (!deps.decider.masterSwitch()) return 'legacy';
  return deps.config.unleash ? 'rollout' : 'unified';
}

/** /healthz, /readyz, /version, /metrics, /debug (CONTRACT §10). */
export function registerOpsRoutes(app: FastifyInstance, deps: ServiceDeps): void {
  const { config } = deps;

  app.get('/healthz', async () => {
    const results = await Promise.all(deps.checks.map((c) => runCheck(c)));
    const redis = results.find((r) => r.name === 'redis');
    const counts = deps.listenerCounts?.() ?? { listeners_count: 0, workflow_listeners_count: 0 };
    return {
      status: results.every((r) => r.ok) ? 'ok' : 'degraded',
      version: config.serviceVersion,
      ...counts,
      redis: redis?.ok ? 'ok' : 'error',
      uptime_s: Math.round((Date.now() - deps.startedAt) / 1000),
      region: config.awsRegion ?? null,
      registry_mode: registryMode(deps),
      role: config.role,
      instance_id: config.instanceId,
      failing: results.filter((r) => !r.ok).map((r) => r.name),
    };
  });

  app.get('/readyz', async (_req, reply) => {
    const results = await Promise.all(deps.checks.filter((c) => c.required).map((c) => runCheck(c)));
    const failing = results.filter((r) => !r.ok).map((r) => r.name);
    if (failing.length > 0) return reply.code(503).send({ ok: false, failing });
    return { ok: true };
  });

  app.get('/version', async () => ({ version: config.serviceVersion }));

  app.get('/metrics', async (_req, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.get('/debug', {
    onRequest: async (req) => assertServiceToken(req.headers.authorization, config.serviceToken),
    handler: async () => {
      const results = await Promise.all(deps.checks.map((c) => runCheck(c)));
      const mem = process.memoryUsage();
      return {
        ok: true,
        data: {
          dependencies: results,
          registry_mode: registryMode(deps),
          master_switch: deps.decider.masterSwitch(),
          listeners: deps.listenerCounts?.() ?? null,
          config: describeConfig(config),
          process: { pid: process.pid, node: process.version, uptime_s: Math.round(process.uptime()), rss_mb: Math.round(mem.rss / 1048576), heap_used_mb: Math.round(mem.heapUsed / 1048576) },
        },
      };
    },
  });
}
