import { describe, it, expect, beforeEach } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DescribeServicesCommand,
  ECSClient,
  ListTaskDefinitionsCommand,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
  type Deployment,
  type Service,
} from '@aws-sdk/client-ecs';
import { resolve } from 'node:path';
import { runCli, type CliIo } from '../../../scripts/deploy/cli.js';
import type { Fetch } from '../../../scripts/deploy/health.js';

const root = resolve(import.meta.dirname, '../../..');
const FAMILY = 'pinnokio_microservice_unified';
const arn = (rev: number, family = FAMILY) => `arn:aws:ecs:us-east-1:123456789012:task-definition/${family}:${rev}`;
const DEPLOY_ENV = {
  AWS_REGION: 'us-east-1',
  ECR_REGISTRY: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
  QUEUE_REDIS_HOST: 'queues.example.internal',
  FIREBASE_PROJECT_ID: 'demo-project',
  DEPLOY_HEALTH_URL: 'https://alb.example.test',
};

const ecsMock = mockClient(ECSClient);

function service(o: { desired: number; running?: number; taskDef: string; deployments?: Deployment[] }): Service {
  return {
    serviceName: 'pinnokio_microservice',
    status: 'ACTIVE',
    desiredCount: o.desired,
    runningCount: o.running ?? o.desired,
    taskDefinition: o.taskDef,
    deployments: o.deployments ?? [{ id: 'ecs-svc/1', status: 'PRIMARY', taskDefinition: o.taskDef, rolloutState: 'COMPLETED', desiredCount: o.desired, runningCount: o.running ?? o.desired }],
    events: [{ message: '(service pinnokio_microservice) has reached a steady state.' }],
  };
}

function inProgress(taskDef: string, desired: number, running: number, old?: string): Service {
  const deployments: Deployment[] = [{ id: 'ecs-svc/2', status: 'PRIMARY', taskDefinition: taskDef, rolloutState: 'IN_PROGRESS', desiredCount: desired, runningCount: running }];
  if (old) deployments.push({ id: 'ecs-svc/1', status: 'ACTIVE', taskDefinition: old, rolloutState: 'COMPLETED', desiredCount: 0, runningCount: 1 });
  return service({ desired, running, taskDef, deployments });
}

interface Harness {
  io: CliIo;
  out: string[];
  err: string[];
  sleeps: number[];
  fetched: string[];
  ecsCreated: number;
}

/** Injected fetch/sleep/clock: sleeping advances the fake clock, nothing waits for real. */
function harness(o: { health?: Array<{ status: number; body: unknown }>; env?: Record<string, string> } = {}): Harness {
  const h: Harness = { io: undefined as unknown as CliIo, out: [], err: [], sleeps: [], fetched: [], ecsCreated: 0 };
  let clock = 1_000_000;
  const answers = [...(o.health ?? [{ status: 200, body: { status: 'ok', version: 'abc123' } }])];
  const fakeFetch: Fetch = async (url) => {
    h.fetched.push(url);
    const a = answers.length > 1 ? answers.shift()! : answers[0]!;
    return { status: a.status, text: async () => JSON.stringify(a.body) };
  };
  h.io = {
    ecs: () => {
      h.ecsCreated++;
      return new ECSClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    },
    fetch: fakeFetch,
    sleep: async (ms) => {
      h.sleeps.push(ms);
      clock += ms;
    },
    now: () => clock,
    out: (l) => h.out.push(l),
    err: (l) => h.err.push(l),
    env: { ...DEPLOY_ENV, ...o.env },
    root,
    wait: { timeoutMs: 60_000, pollMs: 5_000, healthAttempts: 3, healthIntervalMs: 1_000 },
  };
  return h;
}

const updateInputs = () => ecsMock.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input);

beforeEach(() => {
  ecsMock.reset();
});

describe('npm run deploy', () => {
  it('scale-from-zero: the service at 0 is scaled to 1 for the deployment and the output says so', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .resolvesOnce({ services: [service({ desired: 0, running: 0, taskDef: arn(41) })] })
      .resolvesOnce({ services: [inProgress(arn(42), 1, 0)] })
      .resolves({ services: [service({ desired: 1, taskDef: arn(42) })] });
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: arn(42) } });
    ecsMock.on(UpdateServiceCommand).resolves({});
    const h = harness();

    const code = await runCli(['deploy', 'production', '--tag', 'abc123'], h.io);

    expect(h.err).toEqual([]);
    expect(code).toBe(0);
    const [update] = updateInputs();
    expect(update).toMatchObject({
      cluster: 'pinnokio_cluster',
      service: 'pinnokio_microservice',
      taskDefinition: arn(42),
      desiredCount: 1,
      deploymentConfiguration: { minimumHealthyPercent: 0, maximumPercent: 200, deploymentCircuitBreaker: { enable: true, rollback: true } },
    });
    const output = h.out.join('\n');
    expect(output).toContain('the service was at 0');
    expect(output).toMatch(/The service was at 0; it was scaled to 1 for this deployment/);
    expect(h.fetched).toEqual(['https://alb.example.test/healthz']);
    expect(h.sleeps.every((ms) => ms === 5_000)).toBe(true);

    const registered = ecsMock.commandCalls(RegisterTaskDefinitionCommand)[0]!.args[0].input;
    expect(registered.family).toBe(FAMILY);
    expect(registered.containerDefinitions?.map((c) => c.image)).toEqual(
      Array(3).fill('123456789012.dkr.ecr.us-east-1.amazonaws.com/pinnokio_microservice:abc123'),
    );
    expect(JSON.stringify(registered)).not.toContain('${');
  });

  it('already running: desiredCount is left unchanged', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .resolvesOnce({ services: [service({ desired: 2, taskDef: arn(41) })] })
      .resolvesOnce({ services: [inProgress(arn(42), 2, 1, arn(41))] })
      .resolves({ services: [service({ desired: 2, taskDef: arn(42) })] });
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: arn(42) } });
    ecsMock.on(UpdateServiceCommand).resolves({});
    const h = harness();

    expect(await runCli(['deploy', 'production', '--tag', 'abc123'], h.io)).toBe(0);

    const [update] = updateInputs();
    expect(update).not.toHaveProperty('desiredCount');
    expect(update?.deploymentConfiguration).toMatchObject({ minimumHealthyPercent: 0, maximumPercent: 200 });
    expect(h.out.join('\n')).not.toContain('was at 0');
    expect(h.out.join('\n')).toContain('desiredCount unchanged (2)');
  });

  it('failed deployment: a clear error and a non-zero exit', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .resolvesOnce({ services: [service({ desired: 1, taskDef: arn(41) })] })
      .resolves({
        services: [
          service({
            desired: 1,
            running: 0,
            taskDef: arn(42),
            deployments: [
              { id: 'ecs-svc/2', status: 'PRIMARY', taskDefinition: arn(42), rolloutState: 'FAILED', rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.', failedTasks: 3, desiredCount: 1, runningCount: 0 },
            ],
          }),
        ],
      });
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: arn(42) } });
    ecsMock.on(UpdateServiceCommand).resolves({});
    const h = harness();

    const code = await runCli(['deploy', 'production', '--tag', 'abc123'], h.io);

    expect(code).toBe(1);
    expect(h.err.join('\n')).toMatch(/deploy failed: deployment ecs-svc\/2 of pinnokio_microservice_unified:42 FAILED: ECS deployment circuit breaker: tasks failed to start\. \(failed tasks: 3\)/);
    expect(h.fetched).toEqual([]);
  });

  it('circuit breaker rolled back to the old revision: reported as a failure', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .resolvesOnce({ services: [service({ desired: 1, taskDef: arn(41) })] })
      .resolves({ services: [service({ desired: 1, taskDef: arn(41) })] });
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: arn(42) } });
    ecsMock.on(UpdateServiceCommand).resolves({});
    const h = harness();

    expect(await runCli(['deploy', 'production', '--tag', 'abc123'], h.io)).toBe(1);
    expect(h.err.join('\n')).toMatch(/primary deployment is pinnokio_microservice_unified:41, not pinnokio_microservice_unified:42: ECS rolled the deployment back/);
  });

  it('a deployment that never settles times out (bounded, on the fake clock)', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .resolvesOnce({ services: [service({ desired: 1, taskDef: arn(41) })] })
      .resolves({ services: [inProgress(arn(42), 1, 0, arn(41))] });
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: arn(42) } });
    ecsMock.on(UpdateServiceCommand).resolves({});
    const h = harness();

    expect(await runCli(['deploy', 'production', '--tag', 'abc123', '--timeout', '30'], h.io)).toBe(1);
    expect(h.err.join('\n')).toMatch(/timed out after 30 s waiting for pinnokio_microservice to become stable \(rollout IN_PROGRESS, running 0\/1/);
    expect(h.sleeps.reduce((a, b) => a + b, 0)).toBe(30_000);
  });

  it('an unhealthy /healthz after a stable rollout fails and says how to roll back', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .resolvesOnce({ services: [service({ desired: 1, taskDef: arn(41) })] })
      .resolves({ services: [service({ desired: 1, taskDef: arn(42) })] });
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: arn(42) } });
    ecsMock.on(UpdateServiceCommand).resolves({});
    const h = harness({ health: [{ status: 503, body: { status: 'degraded' } }] });

    expect(await runCli(['deploy', 'production', '--tag', 'abc123'], h.io)).toBe(1);
    expect(h.fetched).toHaveLength(3);
    expect(h.err.join('\n')).toMatch(/https:\/\/alb\.example\.test\/healthz is not healthy after 3 attempts: HTTP 503\. To go back: npm run deploy:rollback -- production/);
  });

  it('waits for /healthz to report the new version (an old task may still answer)', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .resolvesOnce({ services: [service({ desired: 1, taskDef: arn(41) })] })
      .resolves({ services: [service({ desired: 1, taskDef: arn(42) })] });
    ecsMock.on(RegisterTaskDefinitionCommand).resolves({ taskDefinition: { taskDefinitionArn: arn(42) } });
    ecsMock.on(UpdateServiceCommand).resolves({});
    const h = harness({ health: [{ status: 200, body: { status: 'ok', version: 'old' } }, { status: 200, body: { status: 'ok', version: 'abc123' } }] });

    expect(await runCli(['deploy', 'production', '--tag', 'abc123'], h.io)).toBe(0);
    expect(h.fetched).toHaveLength(2);
  });

  it('refuses to deploy with unresolved task definition placeholders, before any AWS call', async () => {
    const h = harness({ env: { QUEUE_REDIS_HOST: '' } });
    expect(await runCli(['deploy', 'production', '--tag', 'abc123'], h.io)).toBe(1);
    expect(h.err.join('\n')).toContain('unresolved placeholders: QUEUE_REDIS_HOST');
    expect(ecsMock.calls()).toHaveLength(0);
  });

  it('--dry-run prints the plan and calls no AWS API (no client is even created)', async () => {
    const h = harness();
    expect(await runCli(['deploy', 'production', '--tag', 'abc123', '--dry-run'], h.io)).toBe(0);
    expect(ecsMock.calls()).toHaveLength(0);
    expect(h.ecsCreated).toBe(0);
    const output = h.out.join('\n');
    expect(output).toContain('pinnokio_cluster');
    expect(output).toContain('123456789012.dkr.ecr.us-east-1.amazonaws.com/pinnokio_microservice:abc123');
    expect(output).toContain('minimumHealthyPercent 0, maximumPercent 200');
    expect(output).toContain('dry run: no AWS API was called');
  });

  it('usage errors exit 2: unknown environment, missing or invalid tag', async () => {
    for (const argv of [['deploy', 'moon', '--tag', 'x'], ['deploy', 'production'], ['deploy', 'production', '--tag', 'bad tag!']]) {
      const h = harness();
      expect(await runCli(argv, h.io)).toBe(2);
      expect(h.err[0]).toMatch(/^error: /);
    }
    expect(ecsMock.calls()).toHaveLength(0);
  });

  it('staging targets its own service and family', async () => {
    const h = harness();
    expect(await runCli(['deploy', 'staging', '--tag', 'abc123', '--dry-run'], h.io)).toBe(0);
    expect(h.out.join('\n')).toMatch(/service\s+pinnokio_microservice_staging/);
    expect(h.out.join('\n')).toMatch(/task family\s+pinnokio_microservice_unified_staging/);
  });
});

describe('npm run deploy:rollback', () => {
  it('returns to the previous ACTIVE revision of the family and waits until stable', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .resolvesOnce({ services: [service({ desired: 1, taskDef: arn(42) })] })
      .resolvesOnce({ services: [inProgress(arn(40), 1, 0, arn(42))] })
      .resolves({ services: [service({ desired: 1, taskDef: arn(40) })] });
    // 41 was deregistered (not ACTIVE); a longer family sharing the prefix is ignored; two pages.
    ecsMock
      .on(ListTaskDefinitionsCommand)
      .resolvesOnce({ taskDefinitionArns: [arn(43), arn(42), arn(9, `${FAMILY}_staging`)], nextToken: 'p2' })
      .resolvesOnce({ taskDefinitionArns: [arn(40), arn(39)] });
    ecsMock.on(UpdateServiceCommand).resolves({});
    const h = harness();

    expect(await runCli(['rollback', 'production'], h.io)).toBe(0);

    const list = ecsMock.commandCalls(ListTaskDefinitionsCommand)[0]!.args[0].input;
    expect(list).toMatchObject({ familyPrefix: FAMILY, status: 'ACTIVE', sort: 'DESC' });
    const [update] = updateInputs();
    expect(update).toMatchObject({ taskDefinition: arn(40), deploymentConfiguration: { minimumHealthyPercent: 0, maximumPercent: 200 } });
    expect(update).not.toHaveProperty('desiredCount');
    expect(h.out.join('\n')).toContain('rolled back to pinnokio_microservice_unified:40 (was pinnokio_microservice_unified:42)');
  });

  it('fails clearly when there is no older revision', async () => {
    ecsMock.on(DescribeServicesCommand).resolves({ services: [service({ desired: 1, taskDef: arn(1) })] });
    ecsMock.on(ListTaskDefinitionsCommand).resolves({ taskDefinitionArns: [arn(1)] });
    const h = harness();
    expect(await runCli(['rollback', 'production'], h.io)).toBe(1);
    expect(h.err.join('\n')).toContain('no ACTIVE revision of pinnokio_microservice_unified older than pinnokio_microservice_unified:1');
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });
});

describe('npm run deploy:verify', () => {
  it('describes the service and checks /healthz', async () => {
    ecsMock.on(DescribeServicesCommand).resolves({ services: [service({ desired: 1, taskDef: arn(42) })] });
    const h = harness();
    expect(await runCli(['verify', 'production', '--tag', 'abc123'], h.io)).toBe(0);
    expect(h.fetched).toEqual(['https://alb.example.test/healthz']);
    expect(h.out.at(-1)).toBe('verify: ok');
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('fails when fewer tasks run than desired', async () => {
    ecsMock.on(DescribeServicesCommand).resolves({ services: [service({ desired: 2, running: 1, taskDef: arn(42) })] });
    const h = harness();
    expect(await runCli(['verify', 'production'], h.io)).toBe(1);
    expect(h.err.join('\n')).toContain('verify failed: only 1 of 2 tasks running');
  });

  it('fails clearly when the service does not exist', async () => {
    ecsMock.on(DescribeServicesCommand).resolves({ services: [], failures: [{ arn: 'pinnokio_microservice', reason: 'MISSING' }] });
    const h = harness();
    expect(await runCli(['verify', 'production'], h.io)).toBe(1);
    expect(h.err.join('\n')).toContain('service pinnokio_microservice not found in cluster pinnokio_cluster (pinnokio_microservice: MISSING)');
  });
});
