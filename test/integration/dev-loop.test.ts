import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/env.js';
import { freePort } from '../helpers/net.js';
import { portOpen } from '../../scripts/lib/net.js';

/** Every live descendant of `root` (walks /proc: parent pid is field 4 of /proc/<pid>/stat). */
function descendants(root: number): Map<number, string> {
  const parentOf = new Map<number, number>();
  const cmd = new Map<number, string>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(name), Number(after[1]));
      cmd.set(Number(name), readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ').trim());
    } catch {
      // exited while we looked
    }
  }
  const out = new Map<number, string>();
  const todo = [root];
  while (todo.length > 0) {
    const p = todo.pop()!;
    for (const [child, parent] of parentOf) {
      if (parent === p && !out.has(child)) {
        out.set(child, cmd.get(child) ?? '');
        todo.push(child);
      }
    }
  }
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm run dev', () => {
  it('starts its own redis-server on 127.0.0.1, prints the URLs and a fresh token, and SIGTERM to npm leaves no process and no open port', async () => {
    const port = await freePort();
    // No Redis configured: the script must start its own (never the shared 6379).
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: String(port), METADATA_SERVER_DETECTION: 'none' };
    const npm = spawn('npm', ['run', 'dev'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    npm.stdout.on('data', (d: Buffer) => (out += d.toString()));
    npm.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => npm.on('exit', (code) => r(code)));
    try {
      const ready = await waitFor(() => /\[dev\] ready {2}API (\S+) {2}console (\S+) {2}queues (\S+) {2}docs (\S+)/.exec(out), 50000, `the URLs line; output so far:\n${out}`);
      const [, api, consoleUrl, queues, docs] = ready;
      const base = `http://127.0.0.1:${port}`;
      expect(api).toBe(`${base}/rpc`);
      expect(consoleUrl).toMatch(new RegExp(`^${base}/admin\\?token=`));
      expect(queues).toBe(`${base}/admin/queues`);
      expect(docs).toBe(`${base}/docs`);
      const token = /\[dev\] dev token: (\S+)/.exec(out)?.[1];
      expect(token).toBeDefined();
      expect(token).not.toBe('dev-token');
      expect(out.match(/\[dev\] dev token:/g)).toHaveLength(1);
      // Not a terminal: JSON log lines.
      expect(out).toMatch(/^\{"level":30,.*"msg":"starting"\}$/m);

      const health = (await (await fetch(`${base}/healthz`)).json()) as Record<string, unknown>;
      expect(health).toMatchObject({ status: 'ok', redis: 'ok', role: 'all' });
      const tree = descendants(npm.pid!);
      const redis = [...tree].filter(([, c]) => c.startsWith('redis-server'));
      expect(redis, JSON.stringify([...tree])).toHaveLength(1);
      expect(redis[0]![1]).toContain('127.0.0.1:');
      expect(redis[0]![1]).not.toContain(':6379');

      npm.kill('SIGTERM');
      await exited;
      await waitFor(() => [...tree.keys()].every((pid) => !alive(pid)), 20000, `every child gone: ${JSON.stringify([...tree].filter(([p]) => alive(p)))}`);
      expect(await portOpen(port)).toBe(false);
      expect(out).toContain('[dev] stopping (SIGTERM)');
    } finally {
      if (npm.exitCode === null) npm.kill('SIGKILL');
    }
  }, 90000);
});
