import type { FastifyInstance } from 'fastify';
import { describeConfig } from '../config/load.js';
import type { DependencyCheck, ServiceDeps } from '../app/deps.js';
import { assertServiceToken } from './auth.js';

type CheckResult = Awaited<ReturnType<typeof runCheck>>;

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

export interface HealthMonitorOptions {
  /** Background run period (ms). */
  intervalMs?: number;
  /** A request finding results older than this starts a refresh in the background (ms). */
  staleMs?: number;
  /** Bound of one check (ms). */
  checkTimeoutMs?: number;
}

/**
 * Runs the dependency checks in the background and keeps their last results, so /healthz and
 * /readyz answer at once whatever is down (a check waiting for a dead dependency only delays the
 * next result, never a probe). One run at a time; the check list is re-read on every run, so a
 * check added to it after start joins the next one.
 */
export class HealthMonitor {
  private results: CheckResult[] | undefined;
  private at = 0;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;
  private readonly staleMs: number;
  private readonly timeoutMs: number;
  /** How many check runs started (observability and tests). */
  runs = 0;

  constructor(
    private readonly checks: () => readonly DependencyCheck[],
    o: HealthMonitorOptions = {},
  ) {
    this.intervalMs = o.intervalMs ?? 5000;
    this.staleMs = o.staleMs ?? 1000;
    this.timeoutMs = o.checkTimeoutMs ?? 2000;
  }

  /** Starts the background runs; resolves once the first run is over (bounded by the check timeout). */
  start(): Promise<void> {
    if (!this.timer) {
      this.timer = setInterval(() => void this.refresh(), this.intervalMs);
      this.timer.unref?.();
    }
    return this.refresh();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Starts a run unless one is in flight; resolves when that run is over. Never rejects. */
  refresh(): Promise<void> {
    this.running ??= (async () => {
      this.runs++;
      try {
        const results = await Promise.all(this.checks().map((c) => runCheck(c, this.timeoutMs)));
        this.results = results;
        this.at = Date.now();
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /**
   * The last results, at once (never waits for a check). Checks registered since the last run are
   * reported failing with "no result yet", and start a run, as do results older than `staleMs`.
   */
  latest(): { results: CheckResult[]; age_ms: number | null } {
    const known = this.results ?? [];
    const pending = this.checks()
      .filter((c) => !known.some((r) => r.name === c.name))
      .map((c) => ({ name: c.name, required: c.required, ok: false, detail: 'no result yet', latency_ms: 0 }));
    if (pending.length > 0 || Date.now() - this.at > this.staleMs) void this.refresh();
    return { results: [...known, ...pending], age_ms: this.results ? Date.now() - this.at : null };
  }
}

function registryMode(deps: ServiceDeps): string {
  if (!deps.decider.masterSwitch()) return 'legacy';
  return deps.config.unleash ? 'rollout' : 'unified';
}

/** /debug: every check run now (not the cached results), the registry mode, the configuration without secrets, the process. */
async function debugView(deps: ServiceDeps): Promise<Record<string, unknown>> {
  const results = await Promise.all(deps.checks.map((c) => runCheck(c)));
  const mem = process.memoryUsage();
  return {
    ok: true,
    data: {
      dependencies: results,
      registry_mode: registryMode(deps),
      master_switch: deps.decider.masterSwitch(),
      listeners: deps.listenerCounts?.() ?? null,
      config: describeConfig(deps.config),
      process: { pid: process.pid, node: process.version, uptime_s: Math.round(process.uptime()), rss_mb: Math.round(mem.rss / 1048576), heap_used_mb: Math.round(mem.heapUsed / 1048576) },
    },
  };
}

/** /healthz, /readyz, /version, /metrics, /debug (CONTRACT §10). */
export function registerOpsRoutes(app: FastifyInstance, deps: ServiceDeps, monitor = new HealthMonitor(() => deps.checks)): HealthMonitor {
  const { config } = deps;
  // The first run completes before the server listens, so the first probe already has results.
  app.addHook('onReady', async () => monitor.start());
  app.addHook('onClose', async () => monitor.stop());

  app.get('/healthz', async () => {
    const { results, age_ms } = monitor.latest();
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
      checked_ms_ago: age_ms,
    };
  });

  app.get('/readyz', async (_req, reply) => {
    const { results } = monitor.latest();
    const failing = results.filter((r) => r.required && !r.ok).map((r) => r.name);
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
    handler: () => debugView(deps),
  });
  return monitor;
}
