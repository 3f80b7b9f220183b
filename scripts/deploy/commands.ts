/**
 * The three operations behind `npm run deploy`, `deploy:rollback` and `deploy:verify`. Each takes
 * its collaborators (ECS client, fetch, sleep, clock, log) so tests run them against mocks.
 */
import type { ECSClient, Service } from '@aws-sdk/client-ecs';
import { DeployError, type DeployEnvironment } from './environments.js';
import {
  describeService,
  previousRevision,
  registerTaskDefinition,
  shortArn,
  updateService,
  waitForStable,
  type Log,
  type Sleep,
} from './ecs.js';
import { checkHealth, type Fetch } from './health.js';
import { describePlan, healthzUrl, type DeployPlan } from './plan.js';

export interface Deps {
  ecs: ECSClient;
  fetch: Fetch;
  sleep: Sleep;
  now: () => number;
  log: Log;
}

export interface WaitSettings {
  timeoutMs: number;
  pollMs: number;
  healthAttempts?: number;
  healthIntervalMs?: number;
}

export const DEFAULT_WAIT: WaitSettings = { timeoutMs: 15 * 60_000, pollMs: 10_000, healthAttempts: 10, healthIntervalMs: 3000 };

export interface DeployResult {
  taskDefinition: string;
  wasAtZero: boolean;
  desiredCount: number;
  health: 'ok' | 'skipped';
}

/** Scale-from-zero aware rolling deployment (seed 003). */
export async function deploy(plan: DeployPlan, deps: Deps, wait: WaitSettings = DEFAULT_WAIT): Promise<DeployResult> {
  const { env } = plan;
  if (plan.missing.length > 0) {
    throw new DeployError(`the task definition has unresolved placeholders: ${plan.missing.join(', ')} (set them in the environment)`);
  }
  deps.log(`deploying ${plan.image} to ${env.cluster}/${env.service} (${plan.region})`);

  const before = await describeService(deps.ecs, env.cluster, env.service);
  const previous = before.taskDefinition;
  const wasAtZero = (before.desiredCount ?? 0) === 0;
  deps.log(`  current: ${shortArn(previous)}, desiredCount ${before.desiredCount ?? 0}, running ${before.runningCount ?? 0}`);
  if (wasAtZero) deps.log('  the service was at 0 (scaled to zero): scaling to 1 for this deployment');

  const arn = await registerTaskDefinition(deps.ecs, plan.taskDefinition);
  deps.log(`  registered ${shortArn(arn)}`);

  await updateService(deps.ecs, { cluster: env.cluster, service: env.service, taskDefinition: arn, desiredCount: wasAtZero ? 1 : undefined });
  deps.log(`  updated service: rolling update (minimumHealthyPercent 0, maximumPercent 200, circuit breaker with rollback)${wasAtZero ? ', desiredCount 0 -> 1' : ''}`);

  const after = await waitForStable(deps.ecs, { cluster: env.cluster, service: env.service, taskDefinition: arn, ...wait, sleep: deps.sleep, now: deps.now, log: deps.log });
  deps.log(`  stable: ${after.runningCount ?? 0}/${after.desiredCount ?? 0} tasks running ${shortArn(arn)}`);

  const health = await healthStep(plan.healthUrl, plan.tag, deps, wait, env);

  deps.log(
    `done: ${env.service} now runs ${shortArn(arn)} (image tag ${plan.tag}), previously ${shortArn(previous)}. ` +
      (wasAtZero
        ? 'The service was at 0; it was scaled to 1 for this deployment (scale-to-zero may bring it back to 0 when idle).'
        : `desiredCount unchanged (${before.desiredCount ?? 0}).`) +
      ` /healthz: ${health}.`,
  );
  return { taskDefinition: arn, wasAtZero, desiredCount: after.desiredCount ?? 0, health };
}

async function healthStep(url: string | undefined, tag: string | undefined, deps: Deps, wait: WaitSettings, env: DeployEnvironment): Promise<'ok' | 'skipped'> {
  if (!url) {
    deps.log('  /healthz check skipped: no --health-url and no DEPLOY_HEALTH_URL');
    return 'skipped';
  }
  try {
    const body = await checkHealth(url, {
      fetch: deps.fetch,
      sleep: deps.sleep,
      log: deps.log,
      attempts: wait.healthAttempts,
      intervalMs: wait.healthIntervalMs,
      expectVersion: tag,
    });
    deps.log(`  ${healthzUrl(url)}: status ${String(body.status)}, version ${String(body.version)}`);
    return 'ok';
  } catch (err) {
    throw new DeployError(`${(err as Error).message}. To go back: npm run deploy:rollback -- ${env.name}`);
  }
}

/** Back to the previous ACTIVE revision of the family the service runs now (or an explicit one). */
export async function rollback(
  o: { env: DeployEnvironment; healthUrl?: string | undefined; to?: string | undefined },
  deps: Deps,
  wait: WaitSettings = DEFAULT_WAIT,
): Promise<{ from: string; to: string }> {
  const { env } = o;
  const svc = await describeService(deps.ecs, env.cluster, env.service);
  const current = svc.taskDefinition;
  if (!current) throw new DeployError(`service ${env.service} has no task definition`);
  const target = o.to ? resolveExplicit(current, o.to) : await previousRevision(deps.ecs, current);
  const wasAtZero = (svc.desiredCount ?? 0) === 0;
  deps.log(`rolling back ${env.cluster}/${env.service}: ${shortArn(current)} -> ${shortArn(target)}`);
  if (wasAtZero) deps.log('  the service was at 0 (scaled to zero): scaling to 1 for the rollback');
  await updateService(deps.ecs, { cluster: env.cluster, service: env.service, taskDefinition: target, desiredCount: wasAtZero ? 1 : undefined });
  await waitForStable(deps.ecs, { cluster: env.cluster, service: env.service, taskDefinition: target, ...wait, sleep: deps.sleep, now: deps.now, log: deps.log });
  const health = await healthStep(o.healthUrl, undefined, deps, wait, env);
  deps.log(`done: ${env.service} rolled back to ${shortArn(target)} (was ${shortArn(current)}). /healthz: ${health}.`);
  return { from: current, to: target };
}

/** `--to 41` or `--to family:41` or a full ARN. */
function resolveExplicit(current: string, to: string): string {
  if (/^\d+$/.test(to)) return current.replace(/:\d+$/, `:${to}`);
  return to;
}

/** Describe the running deployment and check /healthz; throws when it is not healthy. */
export async function verify(
  o: { env: DeployEnvironment; healthUrl?: string | undefined; expectVersion?: string | undefined },
  deps: Deps,
  wait: WaitSettings = DEFAULT_WAIT,
): Promise<Service> {
  const { env } = o;
  const svc = await describeService(deps.ecs, env.cluster, env.service);
  const deployments = svc.deployments ?? [];
  const primary = deployments.find((d) => d.status === 'PRIMARY');
  deps.log(`${env.cluster}/${env.service}: ${shortArn(svc.taskDefinition)}, desired ${svc.desiredCount ?? 0}, running ${svc.runningCount ?? 0}, pending ${svc.pendingCount ?? 0}`);
  for (const d of deployments) {
    deps.log(`  deployment ${d.status ?? '?'} ${shortArn(d.taskDefinition)}: rollout ${d.rolloutState ?? 'n/a'}, running ${d.runningCount ?? 0}/${d.desiredCount ?? 0}, failed tasks ${d.failedTasks ?? 0}`);
  }
  const problems: string[] = [];
  if (primary?.rolloutState === 'FAILED') problems.push(`primary deployment FAILED: ${primary.rolloutStateReason ?? 'no reason given'}`);
  if ((svc.desiredCount ?? 0) === 0) {
    deps.log('  the service is at 0 (scaled to zero): no task to check; the next request or deployment starts one');
  } else if ((svc.runningCount ?? 0) < (svc.desiredCount ?? 0)) {
    problems.push(`only ${svc.runningCount ?? 0} of ${svc.desiredCount ?? 0} tasks running`);
  }
  if (problems.length > 0) throw new DeployError(`verify failed: ${problems.join('; ')}`);
  if ((svc.desiredCount ?? 0) > 0) await healthStep(o.healthUrl, o.expectVersion, deps, wait, env);
  deps.log('verify: ok');
  return svc;
}

export { describePlan };
