/**
 * The four queues on the queue Redis (CONTRACT §9). Keys are `{prefix}:{queue}:…` with the prefix
 * hash-tagged (`{bull}`), so every key of every queue lands in one cluster slot and BullMQ's
 * multi-key scripts work on Redis Cluster.
 */
import { Queue } from 'bullmq';
import type { Config, QueueName } from '../config/schema.js';
import { QUEUE_NAMES } from '../config/schema.js';
import type { Logger } from '../shared/logger.js';
import { createRedis, type RedisClient, type RedisHandle } from '../shared/redis.js';

export interface QueueSet {
  /** Producer connection (fail-fast retries; also used by TaskService reads). */
  readonly connection: RedisHandle;
  get(name: QueueName): Queue;
  all(): Queue[];
  close(): Promise<void>;
}

export function createQueueSet(o: { config: Config; logger: Logger }): QueueSet {
  const connection = createRedis({ settings: o.config.queueRedis, name: `pinnokio:queue:${o.config.instanceId}`, logger: o.logger });
  const queues = new Map<QueueName, Queue>();
  for (const name of QUEUE_NAMES) {
    const q = new Queue(name, { connection: connection.client, prefix: o.config.queuePrefix });
    q.on('error', (err: Error) => o.logger.warn({ queue: name, err: err.message }, 'queue error'));
    queues.set(name, q);
  }
  let closing: Promise<void> | undefined;
  return {
    connection,
    get: (name) => queues.get(name)!,
    all: () => [...queues.values()],
    close() {
      closing ??= (async () => {
        await Promise.allSettled([...queues.values()].map((q) => q.close()));
        await connection.close();
      })();
      return closing;
    },
  };
}

/**
 * BullMQ needs `maxmemory-policy noeviction` (evicted job keys corrupt queues). Warns when the queue
 * Redis reports another policy; CONFIG may be refused (ElastiCache), then INFO is tried.
 */
export async function checkEvictionPolicy(client: RedisClient, logger: Logger): Promise<string | null> {
  let policy: string | null = null;
  try {
    const r = await client.config('GET', 'maxmemory-policy');
    policy = r[1] ?? null;
  } catch {
    try {
      const info = await client.info('memory');
      policy = /maxmemory_policy:(\S+)/.exec(info)?.[1] ?? null;
    } catch (err) {
      logger.debug({ err: (err as Error).message }, 'cannot read the queue Redis eviction policy');
    }
  }
  if (policy !== null && policy !== 'noeviction') {
    logger.warn({ maxmemory_policy: policy }, 'queue Redis maxmemory-policy is not noeviction: BullMQ jobs may be evicted under memory pressure; use a node-based Redis with noeviction for queues');
  }
  return policy;
}
