/**
 * What a deployment will do, computed without touching AWS: target, image, rendered task
 * definition and the steps. `--dry-run` prints exactly this.
 */
import { DEFAULT_REGION, UsageError, type DeployEnvironment } from './environments.js';
import { placeholders, renderTaskDefinition, type TaskDefinitionInput } from './render.js';

/** Placeholders the deploy command computes itself; the environment cannot override them. */
const COMPUTED = new Set(['AWS_REGION', 'AWS_ACCOUNT_ID', 'IMAGE', 'IMAGE_TAG']);

export type ProcessEnv = Readonly<Record<string, string | undefined>>;

export interface DeployPlan {
  env: DeployEnvironment;
  region: string;
  tag: string;
  image: string;
  family: string;
  taskDefinition: TaskDefinitionInput;
  /** Placeholders the task definition still needs (deploying refuses while any is left). */
  missing: string[];
  healthUrl: string | undefined;
}

export function resolveRegion(processEnv: ProcessEnv): string {
  return processEnv.AWS_REGION || processEnv.AWS_DEFAULT_REGION || DEFAULT_REGION;
}

/**
 * The ECR registry host: `ECR_REGISTRY`, else `<AWS_ACCOUNT_ID>.dkr.ecr.<region>.amazonaws.com`.
 * The account id is `AWS_ACCOUNT_ID`, else the first label of the registry host.
 */
export function resolveRegistry(processEnv: ProcessEnv, region: string): { registry: string | undefined; accountId: string | undefined } {
  const explicit = processEnv.ECR_REGISTRY?.trim().replace(/\/+$/, '');
  const accountFromRegistry = explicit && /^\d{12}\./.test(explicit) ? explicit.slice(0, 12) : undefined;
  const accountId = processEnv.AWS_ACCOUNT_ID?.trim() || accountFromRegistry;
  const registry = explicit || (accountId ? `${accountId}.dkr.ecr.${region}.amazonaws.com` : undefined);
  return { registry, accountId };
}

export function validateTag(tag: string | undefined): string {
  if (!tag) throw new UsageError('missing --tag <image tag> (CI uses the commit sha)');
  // Docker tag grammar: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) throw new UsageError(`invalid image tag "${tag}"`);
  return tag;
}

export function buildPlan(o: {
  env: DeployEnvironment;
  tag: string;
  template: string;
  processEnv: ProcessEnv;
  healthUrl?: string | undefined;
}): DeployPlan {
  const region = resolveRegion(o.processEnv);
  const { registry, accountId } = resolveRegistry(o.processEnv, region);
  const image = `${registry ?? '<ECR_REGISTRY>'}/${o.env.ecrRepository}:${o.tag}`;
  const vars: Record<string, string | undefined> = {
    ...o.env.vars,
    ...fromProcessEnv(o.processEnv, placeholders(o.template).filter((n) => !COMPUTED.has(n))),
    AWS_REGION: region,
    AWS_ACCOUNT_ID: accountId,
    IMAGE: registry ? image : undefined,
    IMAGE_TAG: o.tag,
  };
  const rendered = renderTaskDefinition(o.template, vars, o.env.family);
  const { taskDefinition } = rendered;
  // IMAGE and AWS_ACCOUNT_ID are computed: name what the operator has to set instead.
  const missing = [...new Set(rendered.missing.map((n) => (n === 'IMAGE' || n === 'AWS_ACCOUNT_ID' ? 'ECR_REGISTRY (or AWS_ACCOUNT_ID)' : n)))];
  return {
    env: o.env,
    region,
    tag: o.tag,
    image,
    family: o.env.family,
    taskDefinition,
    missing,
    healthUrl: o.healthUrl || o.processEnv.DEPLOY_HEALTH_URL || undefined,
  };
}

/** The deploying environment's value for each placeholder of the template, when set and non-empty. */
function fromProcessEnv(processEnv: ProcessEnv, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = processEnv[n];
    if (v !== undefined && v !== '') out[n] = v;
  }
  return out;
}

/** Human-readable plan, also the whole output of `--dry-run`. */
export function describePlan(plan: DeployPlan): string[] {
  const lines = [
    `plan for ${plan.env.name}:`,
    `  cluster         ${plan.env.cluster}`,
    `  service         ${plan.env.service}`,
    `  region          ${plan.region}`,
    `  image           ${plan.image}`,
    `  task family     ${plan.family} (from ecs-taskdef-unified.json, containers: ${(plan.taskDefinition.containerDefinitions ?? []).map((c) => c.name).join(', ')})`,
    `  health URL      ${plan.healthUrl ? healthzUrl(plan.healthUrl) : '(none: pass --health-url or set DEPLOY_HEALTH_URL)'}`,
    'steps:',
    '  1. DescribeServices: read desiredCount; if it is 0, scale to 1 for this deployment',
    `  2. RegisterTaskDefinition: new revision of ${plan.family} with image tag ${plan.tag}`,
    '  3. UpdateService: new revision, rolling update (minimumHealthyPercent 0, maximumPercent 200, circuit breaker with rollback)',
    '  4. wait until the PRIMARY deployment is COMPLETED and runningCount == desiredCount',
    '  5. GET /healthz through the load balancer',
  ];
  if (plan.missing.length > 0) lines.push(`unresolved placeholders (set them in the environment before deploying): ${plan.missing.join(', ')}`);
  return lines;
}

export function healthzUrl(base: string): string {
  const trimmed = base.replace(/\/+$/, '');
  return trimmed.endsWith('/healthz') ? trimmed : `${trimmed}/healthz`;
}
