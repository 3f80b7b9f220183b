import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../../..');
const tsx = resolve(root, 'node_modules/.bin/tsx');

/** The real entry point (what `npm run deploy` runs), with no AWS credentials and no network. */
function cli(args: string[], env: Record<string, string> = {}) {
  const clean: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', AWS_EC2_METADATA_DISABLED: 'true' };
  return spawnSync(tsx, ['scripts/deploy/cli.ts', ...args], { cwd: root, env: { ...clean, ...env }, encoding: 'utf8', timeout: 30_000 });
}

describe('scripts/deploy/cli.ts as a process', () => {
  it('--dry-run exits 0 and prints the plan without credentials', () => {
    const r = cli(['deploy', 'production', '--tag', 'abc123', '--dry-run'], { ECR_REGISTRY: '123456789012.dkr.ecr.us-east-1.amazonaws.com' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('plan for production:');
    expect(r.stdout).toContain('dry run: no AWS API was called');
    expect(r.stdout).toContain('unresolved placeholders (set them in the environment before deploying): FIREBASE_PROJECT_ID, QUEUE_REDIS_HOST');
  });

  it('a deployment problem exits 1, a usage error exits 2', () => {
    const missing = cli(['deploy', 'production', '--tag', 'abc123']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('deploy failed: the task definition has unresolved placeholders');
    const usage = cli(['deploy', 'nowhere', '--tag', 'abc123']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('unknown environment "nowhere"');
  });
});
