/**
 * npm run deploy -- <env> --tag <tag> [--dry-run] [--health-url URL] [--timeout SECONDS]
 * npm run deploy:rollback -- <env> [--to REVISION] [--health-url URL]
 * npm run deploy:verify -- <env> [--tag TAG] [--health-url URL]
 * tsx scripts/deploy/cli.ts render <env> --tag <tag>   (prints the task definition that would be
 *   registered; CI keeps it as an artifact)
 *
 * The same command runs locally and in CI. Exit codes: 0 done, 1 deployment problem, 2 usage.
 */
import { ECSClient } from '@aws-sdk/client-ecs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_WAIT, deploy, rollback, verify, type Deps, type WaitSettings } from './commands.js';
import { DeployError, getEnvironment, TASKDEF_FILE, UsageError } from './environments.js';
import { buildPlan, describePlan, resolveRegion, validateTag, type ProcessEnv } from './plan.js';
import { readTemplate } from './render.js';

export const USAGE = `usage:
  npm run deploy -- <production|staging> --tag <image tag> [--dry-run] [--health-url URL] [--timeout SECONDS]
  npm run deploy:rollback -- <env> [--to REVISION] [--health-url URL]
  npm run deploy:verify -- <env> [--tag TAG] [--health-url URL]
  tsx scripts/deploy/cli.ts render <env> --tag <image tag>
environment: AWS_REGION (default us-east-1), ECR_REGISTRY or AWS_ACCOUNT_ID, DEPLOY_HEALTH_URL,
  plus the task definition's placeholders (QUEUE_REDIS_HOST, FIREBASE_PROJECT_ID, ...).`;

export interface CliIo {
  /** Lazily built so `--dry-run` and `render` never create an AWS client. */
  ecs: (region: string) => ECSClient;
  fetch: Deps['fetch'];
  sleep: Deps['sleep'];
  now: () => number;
  out: (line: string) => void;
  err: (line: string) => void;
  env: ProcessEnv;
  /** Directory holding ecs-taskdef-unified.json. */
  root: string;
  wait?: WaitSettings;
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        tag: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        'health-url': { type: 'string' },
        timeout: { type: 'string' },
        to: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    const [command, envName, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    const env = getEnvironment(envName);
    const wait = { ...(io.wait ?? DEFAULT_WAIT) };
    if (values.timeout !== undefined) {
      const s = Number(values.timeout);
      if (!Number.isFinite(s) || s <= 0) throw new UsageError(`--timeout must be a positive number of seconds`);
      wait.timeoutMs = s * 1000;
    }
    const healthUrl = values['health-url'] || io.env.DEPLOY_HEALTH_URL || undefined;
    const deps = (): Deps => ({ ecs: io.ecs(resolveRegion(io.env)), fetch: io.fetch, sleep: io.sleep, now: io.now, log: io.out });

    switch (command) {
      case 'deploy':
      case 'render': {
        const tag = validateTag(values.tag);
        const plan = buildPlan({ env, tag, template: readTemplate(resolve(io.root, TASKDEF_FILE)), processEnv: io.env, healthUrl });
        if (command === 'render') {
          if (plan.missing.length > 0) io.err(`unresolved placeholders: ${plan.missing.join(', ')}`);
          io.out(JSON.stringify(plan.taskDefinition, null, 2));
          return plan.missing.length > 0 ? 1 : 0;
        }
        if (values['dry-run']) {
          for (const line of describePlan(plan)) io.out(line);
          io.out('dry run: no AWS API was called');
          return 0;
        }
        await deploy(plan, deps(), wait);
        return 0;
      }
      case 'rollback':
        await rollback({ env, healthUrl, to: values.to }, deps(), wait);
        return 0;
      case 'verify':
        await verify({ env, healthUrl, expectVersion: values.tag }, deps(), wait);
        return 0;
      default:
        throw new UsageError(command ? `unknown command "${command}"` : 'missing command');
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`error: ${(err as Error).message}`);
      io.err(USAGE);
      return 2;
    }
    if (err instanceof DeployError) {
      io.err(`deploy failed: ${err.message}`);
      return 1;
    }
    const e = err as Error;
    io.err(`deploy failed: ${e.name}: ${e.message}`);
    return 1;
  }
}

function realIo(): CliIo {
  return {
    ecs: (region) => new ECSClient({ region }),
    fetch: (url, init) => fetch(url, init),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: () => Date.now(),
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    env: process.env,
    root: process.cwd(),
  };
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  process.exitCode = await runCli(process.argv.slice(2), realIo());
}
