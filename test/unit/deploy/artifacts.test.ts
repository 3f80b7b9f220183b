import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import type { ContainerDefinition } from '@aws-sdk/client-ecs';
import { loadConfig } from '../../../src/config/load.js';
import { ENV_VARS } from '../../../src/config/schema.js';
import { ENVIRONMENTS } from '../../../scripts/deploy/environments.js';
import { buildPlan } from '../../../scripts/deploy/plan.js';
import { placeholders } from '../../../scripts/deploy/render.js';

const root = resolve(import.meta.dirname, '../../..');
const read = (p: string) => readFileSync(resolve(root, p), 'utf8');

const template = read('ecs-taskdef-unified.json');
const DEPLOY_ENV = {
  ECR_REGISTRY: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
  AWS_REGION: 'us-east-1',
  QUEUE_REDIS_HOST: 'queues.example.internal',
  FIREBASE_PROJECT_ID: 'demo-project',
};
const rendered = buildPlan({ env: ENVIRONMENTS.production!, tag: 'abc123', template, processEnv: DEPLOY_ENV });
const containers = rendered.taskDefinition.containerDefinitions ?? [];
const byName = (n: string) => containers.find((c) => c.name === n) as ContainerDefinition;
const ROLE: Record<string, string> = { api_server: 'api', worker: 'worker', beat: 'beat' };
const SERVICE_PORT = Number(ENV_VARS.PORT?.default);
const GRACE_S = Number(ENV_VARS.SHUTDOWN_GRACE_MS?.default) / 1000;

function envOf(c: ContainerDefinition): Record<string, string> {
  return Object.fromEntries((c.environment ?? []).map((kv) => [kv.name as string, kv.value as string]));
}

describe('ecs-taskdef-unified.json', () => {
  const raw = JSON.parse(template) as Record<string, unknown>;

  it('parses and is a Fargate awsvpc task of the expected family with both roles', () => {
    expect(raw.family).toBe('pinnokio_microservice_unified');
    expect(raw.requiresCompatibilities).toEqual(['FARGATE']);
    expect(raw.networkMode).toBe('awsvpc');
    expect(Number(raw.cpu)).toBeGreaterThan(0);
    expect(Number(raw.memory)).toBeGreaterThan(0);
    expect(String(raw.executionRoleArn)).toMatch(/^arn:aws:iam::\$\{AWS_ACCOUNT_ID\}:role\//);
    expect(String(raw.taskRoleArn)).toMatch(/^arn:aws:iam::\$\{AWS_ACCOUNT_ID\}:role\//);
  });

  it('names exactly the containers api_server, worker and beat; api_server is essential', () => {
    expect(containers.map((c) => c.name).sort()).toEqual(['api_server', 'beat', 'worker']);
    expect(byName('api_server').essential).toBe(true);
  });

  it('renders every placeholder for a complete deploy environment, with the tagged image', () => {
    expect(rendered.missing).toEqual([]);
    expect(JSON.stringify(rendered.taskDefinition)).not.toContain('${');
    for (const c of containers) expect(c.image).toBe('123456789012.dkr.ecr.us-east-1.amazonaws.com/pinnokio_microservice:abc123');
    expect(placeholders(template)).toEqual(expect.arrayContaining(['IMAGE', 'AWS_ACCOUNT_ID', 'AWS_REGION', 'QUEUE_REDIS_HOST']));
  });

  it.each(Object.keys(ROLE))('%s: env + secrets satisfy loadConfig in production for its role', async (name) => {
    const c = byName(name);
    const env: Record<string, string> = envOf(c);
    expect(env.CONTAINER_TYPE).toBe(ROLE[name]);
    expect(env.NODE_ENV).toBe('production');
    expect(env.UNIFIED_REGISTRY_ENABLED).toBe('false');
    expect(env.REGISTRY_DEBUG).toBe('false');
    for (const s of c.secrets ?? []) env[s.name as string] = 'dummy-secret-value-0123456789abcdef';
    // FIREBASE_ADMIN_JSON must be JSON; give it a minimal service account.
    if (env.FIREBASE_ADMIN_JSON) env.FIREBASE_ADMIN_JSON = JSON.stringify({ project_id: 'demo-project', type: 'service_account' });
    const res = await loadConfig(env);
    expect(res.ok ? [] : res.problems).toEqual([]);
    if (res.ok) {
      expect(res.config.role).toBe(ROLE[name]);
      expect(res.config.production).toBe(true);
      expect(res.config.serviceToken).toBeDefined();
      expect(res.config.port).toBe(SERVICE_PORT);
      expect(res.config.queueRedis.host).toBe('queues.example.internal');
      expect(res.config.redis.db).toBe(0);
    }
  });

  it('sets only variables the configuration schema knows', () => {
    for (const c of containers) {
      for (const name of [...Object.keys(envOf(c)), ...(c.secrets ?? []).map((s) => s.name as string)]) {
        expect(ENV_VARS, `${c.name}: ${name}`).toHaveProperty([name]);
      }
    }
  });

  it('has no secret value inline: every secret: true variable comes from secrets/valueFrom', () => {
    const secretNames = Object.entries(ENV_VARS).filter(([, v]) => v.secret).map(([k]) => k);
    expect(secretNames).toContain('LISTENERS_SERVICE_TOKEN');
    for (const c of (JSON.parse(template) as { containerDefinitions: ContainerDefinition[] }).containerDefinitions) {
      const inline = (c.environment ?? []).map((kv) => kv.name);
      for (const s of secretNames) expect(inline, `${c.name} sets ${s} inline`).not.toContain(s);
      expect(c.secrets?.map((s) => s.name)).toContain('LISTENERS_SERVICE_TOKEN');
      for (const s of c.secrets ?? []) expect(s.valueFrom).toMatch(/^arn:aws:(secretsmanager|ssm):/);
    }
  });

  it('health check and port match the service (PORT 8090, GET /healthz); stopTimeout covers the drain', () => {
    const api = byName('api_server');
    expect(api.portMappings?.map((p) => p.containerPort)).toEqual([SERVICE_PORT]);
    expect(envOf(api).PORT).toBe(String(SERVICE_PORT));
    const cmd = (api.healthCheck?.command ?? []).join(' ');
    expect(cmd).toContain(`:${SERVICE_PORT}/healthz`);
    expect(api.healthCheck?.command?.[0]).toBe('CMD');
    expect(api.healthCheck?.startPeriod).toBeGreaterThan(0);
    for (const c of containers) {
      expect(c.stopTimeout, c.name).toBeGreaterThanOrEqual(GRACE_S);
      expect(c.stopTimeout, c.name).toBeLessThanOrEqual(120);
      expect(Number(envOf(c).SHUTDOWN_GRACE_MS ?? GRACE_S * 1000) / 1000).toBeLessThan(c.stopTimeout as number);
    }
  });

  it('logs to /ecs/pinnokio_microservice with one stream prefix per container', () => {
    const prefixes = containers.map((c) => {
      expect(c.logConfiguration?.logDriver).toBe('awslogs');
      expect(c.logConfiguration?.options?.['awslogs-group']).toBe('/ecs/pinnokio_microservice');
      return c.logConfiguration?.options?.['awslogs-stream-prefix'];
    });
    expect(prefixes.sort()).toEqual(['api_server', 'beat', 'worker']);
  });
});

/** `FROM image AS name` stage names of the Dockerfile. */
function dockerStages(text: string): string[] {
  return [...text.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)\s*$/gim)].map((m) => (m[1] as string).toLowerCase());
}

describe('Dockerfile', () => {
  const text = read('Dockerfile');
  const stages = dockerStages(text);
  const runtime = text.slice(text.search(/^FROM\s+\S+\s+AS\s+runtime\s*$/im));

  it('is multi-stage and ends with a slim runtime stage', () => {
    expect(stages).toEqual(expect.arrayContaining(['build', 'runtime']));
    expect(stages.at(-1)).toBe('runtime');
    expect(text).toMatch(/ARG NODE_IMAGE=node:20-bookworm-slim/);
  });

  it('runtime: production deps only, non-root, tini, healthcheck on /healthz, port 8090, node dist/main.js', () => {
    expect(runtime).toMatch(/npm ci --omit=dev/);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/ENTRYPOINT \["\/usr\/bin\/tini", "--"\]/);
    expect(runtime).toMatch(/^HEALTHCHECK .*\n?.*\/healthz/m);
    expect(runtime).toMatch(/^EXPOSE 8090$/m);
    expect(runtime).toMatch(/CONTAINER_TYPE=all/);
    expect(runtime).toMatch(/^CMD \["node", "dist\/main.js"\]$/m);
    expect(runtime).toMatch(/COPY --from=build \/app\/dist \.\/dist/);
  });

  it('.dockerignore keeps node_modules, dist and .git out of the context', () => {
    const lines = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const p of ['node_modules', 'dist', '.git', '.env']) expect(lines).toContain(p);
    for (const p of ['src', 'package.json', 'package-lock.json', 'tsconfig.json']) expect(lines).not.toContain(p);
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as {
    services: Record<string, { build?: { target?: string }; depends_on?: Record<string, { condition: string }>; environment?: Record<string, string>; healthcheck?: unknown; command?: string[] }>;
  };
  const stages = dockerStages(read('Dockerfile'));

  it('parses and has redis, firestore, api, worker and beat', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'beat', 'firestore', 'redis', 'worker']);
  });

  it('references only build targets that exist in the Dockerfile', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      if (svc.build) expect(stages, `${name} target ${svc.build.target}`).toContain(svc.build.target);
    }
  });

  it('depends_on names existing services, waits for them to be healthy, and those have health checks', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const [dep, cond] of Object.entries(svc.depends_on ?? {})) {
        expect(compose.services, `${name} -> ${dep}`).toHaveProperty([dep]);
        expect(cond.condition).toBe('service_healthy');
        expect(compose.services[dep]?.healthcheck ?? stages.includes(compose.services[dep]?.build?.target ?? '')).toBeTruthy();
      }
    }
  });

  it('runs the three roles with CONTAINER_TYPE and redis with noeviction', () => {
    expect(compose.services.api?.environment?.CONTAINER_TYPE).toBe('api');
    expect(compose.services.worker?.environment?.CONTAINER_TYPE).toBe('worker');
    expect(compose.services.beat?.environment?.CONTAINER_TYPE).toBe('beat');
    expect(compose.services.redis?.command?.join(' ')).toContain('--maxmemory-policy noeviction');
    for (const r of ['api', 'worker', 'beat']) {
      expect(compose.services[r]?.environment?.LISTENERS_REDIS_HOST).toBe('redis');
      expect(compose.services[r]?.environment?.FIRESTORE_EMULATOR_HOST).toBe('firestore:8080');
    }
  });
});

describe('.github/workflows/deploy.yml', () => {
  const wf = parse(read('.github/workflows/deploy.yml')) as {
    permissions: Record<string, string>;
    jobs: Record<string, { needs?: string | string[]; steps: Array<{ uses?: string; run?: string; with?: Record<string, string> }> }>;
  };
  const steps = Object.values(wf.jobs).flatMap((j) => j.steps);
  const runs = steps.map((s) => s.run ?? '');

  it('parses, uses OIDC (id-token: write) with AWS_ROLE_TO_ASSUME', () => {
    expect(wf.permissions['id-token']).toBe('write');
    const creds = steps.filter((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials'));
    expect(creds.length).toBeGreaterThan(0);
    for (const c of creds) expect(c.with?.['role-to-assume']).toBe('${{ secrets.AWS_ROLE_TO_ASSUME }}');
  });

  it('tests, then builds and pushes the image tagged with the commit, then deploys', () => {
    expect(wf.jobs.test?.steps.some((s) => s.run === 'npm test')).toBe(true);
    expect(wf.jobs.build?.needs).toBe('test');
    expect(wf.jobs.deploy?.needs).toBe('build');
    const push = wf.jobs.build?.steps.find((s) => s.uses?.startsWith('docker/build-push-action'));
    expect(push?.with?.tags).toContain('${{ github.sha }}');
  });

  it('deploys with the same command as local use, then verifies', () => {
    const deployRun = runs.find((r) => r.startsWith('npm run deploy --'));
    expect(deployRun).toMatch(/^npm run deploy -- "\$DEPLOY_ENV" --tag "\$\{\{ github\.sha \}\}"$/);
    expect(runs.some((r) => r.startsWith('npm run deploy:verify'))).toBe(true);
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.deploy).toBe('tsx scripts/deploy/cli.ts deploy');
  });
});
