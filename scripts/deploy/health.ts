/**
 * `/healthz` through the load balancer, with bounded retries (the ALB may need a few seconds to
 * register the new targets). fetch and sleep are injected.
 */
import { DeployError } from './environments.js';
import { healthzUrl } from './plan.js';
import type { Log, Sleep } from './ecs.js';

export type Fetch = (url: string, init?: { signal?: AbortSignal }) => Promise<{ status: number; text(): Promise<string> }>;

export interface HealthBody {
  status?: string;
  version?: string;
  [k: string]: unknown;
}

export interface HealthOptions {
  fetch: Fetch;
  sleep: Sleep;
  log: Log;
  attempts?: number;
  intervalMs?: number;
  /** When set, the answer must report this version (the new tasks, not an old one still draining). */
  expectVersion?: string | undefined;
}

/** One probe: the reason it is not healthy, or undefined when it is. */
async function probe(url: string, o: HealthOptions): Promise<{ problem?: string; body?: HealthBody }> {
  let res: Awaited<ReturnType<Fetch>>;
  try {
    res = await o.fetch(url, { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    return { problem: `request failed: ${(err as Error).message}` };
  }
  const text = await res.text().catch(() => '');
  if (res.status !== 200) return { problem: `HTTP ${res.status}` };
  let body: HealthBody;
  try {
    body = JSON.parse(text) as HealthBody;
  } catch {
    return { problem: 'body is not JSON' };
  }
  if (body.status !== 'ok') return { problem: `status "${String(body.status)}"`, body };
  if (o.expectVersion !== undefined && body.version !== o.expectVersion) {
    return { problem: `version "${String(body.version)}", expected "${o.expectVersion}"`, body };
  }
  return { body };
}

export async function checkHealth(baseUrl: string, o: HealthOptions): Promise<HealthBody> {
  const url = healthzUrl(baseUrl);
  const attempts = o.attempts ?? 10;
  let last = '';
  for (let i = 1; i <= attempts; i++) {
    const r = await probe(url, o);
    if (!r.problem && r.body) return r.body;
    last = r.problem ?? 'unknown';
    o.log(`  /healthz attempt ${i}/${attempts}: ${last}`);
    if (i < attempts) await o.sleep(o.intervalMs ?? 3000);
  }
  throw new DeployError(`${url} is not healthy after ${attempts} attempts: ${last}`);
}
