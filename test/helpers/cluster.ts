import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './env.js';
import { freeClusterPort, waitForPort } from './net.js';

const run = promisify(execFile);

export interface ClusterNode {
  port: number;
  child: ChildProcess;
}

export interface TestCluster {
  nodes: ClusterNode[];
  /** First node's port: what LISTENERS_REDIS_PORT points at (any node would do). */
  port: number;
  /** `redis-cli -p <port> <args...>` output, trimmed. */
  cli(port: number, ...args: string[]): Promise<string>;
  /** Port of the primary currently serving `key`'s slot. */
  primaryOf(key: string): Promise<number>;
  /** Ports of the current primaries (from CLUSTER NODES as seen by a live node). */
  primaries(): Promise<number[]>;
  /** SIGKILLs one node's process and waits until it has exited. */
  kill(port: number): Promise<void>;
  /** Until every live node reports cluster_state:ok and no primary is marked failed. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A local Redis Cluster for tests: `primaries` masters, plus one replica each when `replicas`
 * (then started with `--cluster-node-timeout 2000` so a killed primary fails over in a few seconds,
 * and `--cluster-replica-validity-factor 0` so a replica takes over however long ago it last heard
 * from its primary: on two loaded cores a replica could otherwise judge its data too old and never
 * stand for election). Each node has its own RDB file name in the shared folder.
 * Resolves once every node reports `cluster_state:ok`. Never uses 6379: every port is free-picked.
 */
export async function startCluster(o: { replicas?: boolean; primaries?: number } = {}): Promise<TestCluster> {
  const primaries = o.primaries ?? 3;
  const count = o.replicas ? primaries * 2 : primaries;
  const dir = mkdtempSync(join(tmpdir(), 'pinnokio-cluster-'));
  const nodes: ClusterNode[] = [];
  const dead = new Set<number>();
  const stop = async () => {
    await Promise.all(
      nodes.map(
        (n) =>
          new Promise<void>((resolve) => {
            if (n.child.exitCode !== null || n.child.signalCode !== null) return resolve();
            n.child.once('exit', () => resolve());
            n.child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < count; i++) {
      const port = await freeClusterPort();
      const child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000', '--maxclients', '20000', '--dbfilename', `dump-${port}.rdb`, '--cluster-replica-validity-factor', '0'],
        { stdio: 'ignore' },
      );
      nodes.push({ port, child });
    }
    await Promise.all(nodes.map((n) => waitForPort(n.port, 10000)));
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', o.replicas ? '1' : '0', '--cluster-yes'], { timeout: 30000 });
  } catch (err) {
    await stop();
    throw err;
  }

  const cli = async (port: number, ...args: string[]) => (await run('redis-cli', ['-p', String(port), ...args], { timeout: 5000 })).stdout.trim();
  const live = () => nodes.filter((n) => !dead.has(n.port));
  const clusterNodes = async () => {
    for (const n of live()) {
      try {
        return (await cli(n.port, 'CLUSTER', 'NODES')).split('\n');
      } catch {
        // try the next node
      }
    }
    throw new Error('no live cluster node answers');
  };
  const servingPrimaries = async () =>
    (await clusterNodes())
      .map((l) => l.split(' '))
      .filter((p) => p[2]?.includes('master') && !p[2].includes('fail') && p.length > 8)
      .map((p) => Number(p[1]!.split('@')[0]!.split(':')[1]));
  const waitHealthy = async (timeoutMs = 20000) => {
    await waitFor(
      async () => {
        for (const n of live()) {
          const info = await cli(n.port, 'CLUSTER', 'INFO');
          if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_ok:16384')) return false;
        }
        // After a kill: healthy once no slot is still assigned to a dead node.
        const serving = await servingPrimaries();
        return serving.length === primaries && serving.every((p) => !dead.has(p));
      },
      timeoutMs,
      'cluster_state:ok on every node',
    ).catch(async (err: Error) => {
      const view = await clusterNodes().catch((e: Error) => [e.message]);
      throw new Error(`${err.message}; CLUSTER NODES as a live node sees it:\n${view.join('\n')}`);
    });
  };
  const cluster: TestCluster = {
    nodes,
    port: nodes[0]!.port,
    cli,
    async primaryOf(key) {
      const slot = Number(await cli(live()[0]!.port, 'CLUSTER', 'KEYSLOT', key));
      for (const line of await clusterNodes()) {
        const parts = line.split(' ');
        if (!parts[2]?.includes('master') || parts[2].includes('fail')) continue;
        for (const range of parts.slice(8)) {
          const [a, b] = range.split('-').map(Number);
          if (a !== undefined && slot >= a && slot <= (b ?? a)) return Number(parts[1]!.split('@')[0]!.split(':')[1]);
        }
      }
      throw new Error(`no primary serves slot ${slot}`);
    },
    primaries: servingPrimaries,
    async kill(port) {
      const n = nodes.find((x) => x.port === port);
      if (!n) throw new Error(`no node on ${port}`);
      dead.add(port);
      await new Promise<void>((resolve) => {
        if (n.child.exitCode !== null || n.child.signalCode !== null) return resolve();
        n.child.once('exit', () => resolve());
        n.child.kill('SIGKILL');
      });
    },
    waitHealthy,
    stop,
  };
  try {
    await waitHealthy(20000);
  } catch (err) {
    await stop();
    throw err;
  }
  return cluster;
}
