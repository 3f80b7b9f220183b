/**
 * Composition root: the only reader of process.env. Loads the configuration, opens connections,
 * starts the roles CONTAINER_TYPE asks for, and wires the phased shutdown.
 */
import { readFileSync } from 'node:fs';
import closeWithGrace from 'close-with-grace';
import type { DestinationStream } from 'pino';
import { buildApi } from './api/buildApi.js';
import { mountDashboard } from './api/dashboard.js';
import { loadConfig, describeConfig } from './config/load.js';
import { createGsmSecrets, type SecretSource } from './config/secrets.js';
import type { Config } from './config/schema.js';
import { createCore, firestoreCheck, PHASE, type Core, type CoreOptions } from './core.js';
import { createUnleashFlags } from './flags/unleash.js';
import { startStatusReporter } from './console/status.js';
import type { ListenersHandle } from './listeners/index.js';
import { attachGateway } from './realtime/index.js';
import type { RoleContext } from './roles.js';
import { startScheduler } from './scheduler/index.js';
import { createFirebase, type FirebaseHandle } from './shared/firebase.js';
import { createLogger } from './shared/logger.js';
import { Metrics } from './shared/metrics.js';
import { waitReady } from './shared/redis.js';
import { startWorkers } from './workers/index.js';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
      return pkg.version ?? '0.0.0';
    } catch {
      return '0.0.0';
    }
  }
}

export interface Started {
  core: Core;
  port: number | undefined;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Where logs go (default stdout as JSON lines); the dev script passes pino-pretty on a terminal. */
  logDestination?: DestinationStream;
}

/**
 * What this role builds into the core. Every dependency is built once, before anything uses it
 * (createCore, src/core.ts): connections and registries → queues → task service → listener
 * bookkeeping (and the watchers, not yet started) → checks → deps; the API is then built from the
 * finished deps. Nothing fills `deps` later, so a reader of ServiceDeps sees the same object for the
 * life of the process. Every role has the queues and the task service (TASK.* enqueues from any
 * role). Without watchers here (worker/beat, or LISTENERS_ENABLED=false) the bookkeeping alone
 * still serves the REGISTRY listener methods and the scheduled listener expiry.
 */
function roleParts(config: Config, firebase: FirebaseHandle): Pick<CoreOptions, 'tasks' | 'listeners' | 'checks'> {
  const watchers = (config.role === 'api' || config.role === 'all') && config.listenersEnabled;
  return { tasks: true, listeners: watchers ? 'watchers' : 'bookkeeping', checks: watchers ? [firestoreCheck(firebase)] : [] };
}

/** Starts the service from an environment map (also used by the dev script). */
export async function start(env: NodeJS.ProcessEnv, opts: StartOptions = {}): Promise<Started> {
  let secrets: SecretSource | undefined;
  // On Fargate there are no Google Application Default Credentials: the task definition injects a
  // service-account JSON (from AWS Secrets Manager) that authenticates the Secret Manager client.
  if (env.GOOGLE_PROJECT_ID?.trim()) secrets = await createGsmSecrets(env.GOOGLE_PROJECT_ID.trim(), env.GOOGLE_APPLICATION_CREDENTIALS_JSON?.trim() || undefined);
  const res = await loadConfig(env, secrets, { version: packageVersion() });
  if (!res.ok) {
    process.stderr.write(`configuration is invalid (${res.problems.length} problem(s)):\n${res.problems.map((p) => `  - ${p}`).join('\n')}\n`);
    process.exit(1);
  }
  const config = res.config;
  const logger = createLogger({ level: config.logLevel, base: { role: config.role, version: config.serviceVersion, instance: config.instanceId }, ...(opts.logDestination ? { destination: opts.logDestination } : {}) });
  logger.info({ config: describeConfig(config) }, 'starting');

  const firebase = createFirebase(config.firebase);
  const flags = config.unleash ? createUnleashFlags(config.unleash, logger) : undefined;
  const serveHttp = config.role === 'api' || config.role === 'all';
  const core = createCore({ config, logger, firebase, flags, metrics: new Metrics({ defaultMetrics: true, labels: { role: config.role } }), ...roleParts(config, firebase) });
  try {
    await waitReady(core.redis.client, 10000);
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'main Redis not reachable at start; serving degraded (registry falls back to legacy)');
  }
  // Order matters:
  // 1. the HTTP app exists before anything registers routes on it (it does not listen yet);
  // 2. the queue dashboard on the queues built above;
  // 3. the listeners start before the gateway (sockets drive presence and watchers);
  // 4. every route (dashboard, gateway, console) before app.listen: Fastify refuses routes afterwards.
  const app = serveHttp ? buildApi(core.deps) : undefined;
  const ctx: RoleContext = app ? { core, app } : { core };

  // /admin/queues must be registered before the app listens.
  if (app && core.tasks) await mountDashboard(app, core.tasks.queues.all(), config.serviceToken);
  const listeners: ListenersHandle | undefined = core.listeners ? await core.listeners.start() : undefined;
  const gateway = serveHttp ? await attachGateway(ctx) : undefined;
  if (config.role === 'worker' || config.role === 'all') await startWorkers(ctx);
  if (config.role === 'beat' || config.role === 'all') await startScheduler(ctx);
  // The operator console's view of this process (every role); removed first at shutdown.
  const status = startStatusReporter(core, { listeners, gateway });
  core.lifecycle.add(PHASE.intake, { name: 'console-status', close: () => status.close() });

  let port: number | undefined;
  if (app) {
    // Phase 10: stop taking requests first; sockets and in-flight RPCs finish within the grace.
    core.lifecycle.add(PHASE.intake, { name: 'http', close: () => app.close() });
    await app.listen({ port: config.port, host: config.host });
    const addr = app.server.address();
    port = typeof addr === 'object' && addr ? addr.port : config.port;
    logger.info({ port }, 'listening');
  }
  return {
    core,
    port,
    close: () => core.lifecycle.close(config.shutdownGraceMs - 500),
  };
}

async function main(): Promise<void> {
  const started = await start(process.env);
  const { config, logger } = started.core.deps;
  closeWithGrace({ delay: config.shutdownGraceMs }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'fatal error; shutting down');
    else logger.info({ signal }, 'shutting down');
    await started.close();
    logger.info('stopped');
    logger.flush();
  });
}

const isEntry = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  main().catch((err: unknown) => {
    process.stderr.write(`fatal: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
