/**
 * Deployment targets. One entry per environment name accepted by `npm run deploy -- <env>`.
 * `vars` fill the `${NAME}` placeholders of ecs-taskdef-unified.json; the deploying process's
 * environment overrides any of them (e.g. `QUEUE_REDIS_HOST=... npm run deploy -- staging ...`).
 */

export interface DeployEnvironment {
  readonly name: string;
  readonly cluster: string;
  readonly service: string;
  /** Task definition family registered for this environment (file's family when undefined). */
  readonly family: string;
  readonly ecrRepository: string;
  /** Values for the task definition's `${NAME}` placeholders. */
  readonly vars: Readonly<Record<string, string>>;
}

export const TASKDEF_FILE = 'ecs-taskdef-unified.json';
export const ECR_REPOSITORY = 'pinnokio_microservice';
export const DEFAULT_REGION = 'us-east-1';

/**
 * Values known from the seeds. Anything not listed here (QUEUE_REDIS_HOST: the node-based Redis with
 * `noeviction` that BullMQ needs; FIREBASE_PROJECT_ID) must come from the deploying environment
 * (GitHub Actions variables in CI); the deploy command lists every placeholder left unresolved.
 */
const COMMON_VARS: Readonly<Record<string, string>> = {
  LISTENERS_REDIS_HOST: 'pinnokio-cache-7uum2j.serverless.use1.cache.amazonaws.com',
};

export const ENVIRONMENTS: Readonly<Record<string, DeployEnvironment>> = {
  production: {
    name: 'production',
    cluster: 'pinnokio_cluster',
    service: 'pinnokio_microservice',
    family: 'pinnokio_microservice_unified',
    ecrRepository: ECR_REPOSITORY,
    vars: { ...COMMON_VARS, LOG_LEVEL: 'info' },
  },
  staging: {
    name: 'staging',
    cluster: 'pinnokio_cluster',
    service: 'pinnokio_microservice_staging',
    family: 'pinnokio_microservice_unified_staging',
    ecrRepository: ECR_REPOSITORY,
    vars: { ...COMMON_VARS, LOG_LEVEL: 'debug' },
  },
};

export function getEnvironment(name: string | undefined): DeployEnvironment {
  if (!name) throw new UsageError(`missing environment (one of: ${Object.keys(ENVIRONMENTS).join(', ')})`);
  const env = ENVIRONMENTS[name];
  if (!env) throw new UsageError(`unknown environment "${name}" (one of: ${Object.keys(ENVIRONMENTS).join(', ')})`);
  return env;
}

/** Bad command line: printed with the usage text, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A deployment that did not reach a healthy, stable state: exit code 1. */
export class DeployError extends Error {
  override name = 'DeployError';
}
