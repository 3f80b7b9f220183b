/**
 * The ECS calls of the deploy command, each a small function over a caller-owned ECSClient so tests
 * can drive them with aws-sdk-client-mock. Waiting takes an injected sleep and clock: no real timers.
 */
import {
  DescribeServicesCommand,
  ListTaskDefinitionsCommand,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
  type Deployment,
  type ECSClient,
  type Service,
} from '@aws-sdk/client-ecs';
import { DeployError } from './environments.js';
import type { TaskDefinitionInput } from './render.js';

export type Log = (line: string) => void;
export type Sleep = (ms: number) => Promise<void>;

/** Rolling update that also works from zero tasks (seed 003), with ECS's own rollback on failure. */
export const DEPLOYMENT_CONFIGURATION = {
  minimumHealthyPercent: 0,
  maximumPercent: 200,
  deploymentCircuitBreaker: { enable: true, rollback: true },
} as const;

export async function describeService(ecs: ECSClient, cluster: string, service: string): Promise<Service> {
  const out = await ecs.send(new DescribeServicesCommand({ cluster, services: [service] }));
  const svc = out.services?.find((s) => s.serviceName === service || s.serviceArn?.endsWith(`/${service}`));
  if (!svc) {
    const reason = out.failures?.map((f) => `${f.arn ?? service}: ${f.reason ?? 'unknown'}`).join('; ');
    throw new DeployError(`service ${service} not found in cluster ${cluster}${reason ? ` (${reason})` : ''}`);
  }
  if (svc.status && svc.status !== 'ACTIVE') throw new DeployError(`service ${service} is ${svc.status}, not ACTIVE`);
  return svc;
}

export async function registerTaskDefinition(ecs: ECSClient, input: TaskDefinitionInput): Promise<string> {
  const out = await ecs.send(new RegisterTaskDefinitionCommand(input));
  const arn = out.taskDefinition?.taskDefinitionArn;
  if (!arn) throw new DeployError(`RegisterTaskDefinition returned no ARN for family ${input.family}`);
  return arn;
}

export async function updateService(
  ecs: ECSClient,
  o: { cluster: string; service: string; taskDefinition: string; desiredCount?: number | undefined },
): Promise<void> {
  await ecs.send(
    new UpdateServiceCommand({
      cluster: o.cluster,
      service: o.service,
      taskDefinition: o.taskDefinition,
      ...(o.desiredCount !== undefined ? { desiredCount: o.desiredCount } : {}),
      deploymentConfiguration: {
        ...DEPLOYMENT_CONFIGURATION,
        deploymentCircuitBreaker: { ...DEPLOYMENT_CONFIGURATION.deploymentCircuitBreaker },
      },
      forceNewDeployment: true,
    }),
  );
}

export interface WaitOptions {
  cluster: string;
  service: string;
  taskDefinition: string;
  timeoutMs: number;
  pollMs: number;
  sleep: Sleep;
  now: () => number;
  log: Log;
}

/**
 * Polls DescribeServices until the deployment of `taskDefinition` is the only one, COMPLETED (or,
 * without rollout state, fully running). Fails with a DeployError when ECS marks it FAILED, when
 * the circuit breaker rolled the service back to another revision, or after `timeoutMs`.
 */
export async function waitForStable(ecs: ECSClient, o: WaitOptions): Promise<Service> {
  const started = o.now();
  let lastStatus = '';
  for (;;) {
    const svc = await describeService(ecs, o.cluster, o.service);
    const deployments = svc.deployments ?? [];
    const ours = deployments.find((d) => d.taskDefinition === o.taskDefinition);
    const primary = deployments.find((d) => d.status === 'PRIMARY');
    const hint = latestEvent(svc);

    if (ours?.rolloutState === 'FAILED') {
      throw new DeployError(
        `deployment ${ours.id ?? ''} of ${shortArn(o.taskDefinition)} FAILED: ${ours.rolloutStateReason ?? 'no reason given'}` +
          ` (failed tasks: ${ours.failedTasks ?? 0})${hint ? `; last event: ${hint}` : ''}`,
      );
    }
    if (primary && primary.taskDefinition !== o.taskDefinition) {
      throw new DeployError(
        `the service's primary deployment is ${shortArn(primary.taskDefinition)}, not ${shortArn(o.taskDefinition)}:` +
          ` ECS rolled the deployment back (circuit breaker) or another deployment replaced it${hint ? `; last event: ${hint}` : ''}`,
      );
    }
    if (primary && isSettled(primary, deployments.length)) return svc;

    const status = primary
      ? `rollout ${primary.rolloutState ?? 'n/a'}, running ${primary.runningCount ?? 0}/${primary.desiredCount ?? 0}, pending ${primary.pendingCount ?? 0}, deployments ${deployments.length}`
      : 'no primary deployment yet';
    if (status !== lastStatus) {
      o.log(`  waiting: ${status}`);
      lastStatus = status;
    }
    const elapsed = o.now() - started;
    if (elapsed >= o.timeoutMs) {
      throw new DeployError(
        `timed out after ${Math.round(elapsed / 1000)} s waiting for ${o.service} to become stable (${status})${hint ? `; last event: ${hint}` : ''}`,
      );
    }
    await o.sleep(o.pollMs);
  }
}

function isSettled(primary: Deployment, deploymentCount: number): boolean {
  const running = primary.runningCount ?? 0;
  const desired = primary.desiredCount ?? 0;
  if (deploymentCount !== 1 || running !== desired) return false;
  return primary.rolloutState === undefined || primary.rolloutState === 'COMPLETED';
}

function latestEvent(svc: Service): string | undefined {
  return svc.events?.[0]?.message;
}

export function shortArn(arn: string | undefined): string {
  if (!arn) return '(none)';
  const i = arn.indexOf('task-definition/');
  return i >= 0 ? arn.slice(i + 'task-definition/'.length) : arn;
}

export function parseTaskDefinitionArn(arn: string): { family: string; revision: number } {
  const m = /(?:task-definition\/)?([A-Za-z0-9_-]+):(\d+)$/.exec(arn);
  if (!m) throw new DeployError(`cannot parse task definition ${arn}`);
  return { family: m[1] as string, revision: Number(m[2]) };
}

/** ACTIVE revisions of a family, newest first (all pages). */
export async function listRevisions(ecs: ECSClient, family: string): Promise<string[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  do {
    const out = await ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: family, status: 'ACTIVE', sort: 'DESC', nextToken }));
    // familyPrefix also matches longer families (x_staging for x): keep the exact family only.
    arns.push(...(out.taskDefinitionArns ?? []).filter((a) => parseTaskDefinitionArn(a).family === family));
    nextToken = out.nextToken;
  } while (nextToken);
  return arns.sort((a, b) => parseTaskDefinitionArn(b).revision - parseTaskDefinitionArn(a).revision);
}

/** The newest ACTIVE revision of the same family older than `current`. */
export async function previousRevision(ecs: ECSClient, current: string): Promise<string> {
  const { family, revision } = parseTaskDefinitionArn(current);
  const older = (await listRevisions(ecs, family)).find((a) => parseTaskDefinitionArn(a).revision < revision);
  if (!older) throw new DeployError(`no ACTIVE revision of ${family} older than ${family}:${revision} to roll back to`);
  return older;
}
