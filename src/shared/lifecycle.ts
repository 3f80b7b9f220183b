import type { Logger } from './logger.js';

export interface Closeable {
  readonly name: string;
  close(): Promise<void>;
}

/**
 * Phased shutdown (DESIGN habit 7): phases run in order; every step runs even if an earlier one
 * failed; each phase is bounded. Items of one phase close concurrently.
 */
export class Lifecycle {
  private readonly phases = new Map<number, Closeable[]>();
  private closing: Promise<void> | undefined;

  constructor(private readonly logger: Logger) {}

  /** Phase numbers: 10 intake, 20 listeners/scheduler, 30 workers, 40 queues, 50 flags, 60 redis, 70 logs. */
  add(phase: number, item: Closeable): void {
    const list = this.phases.get(phase) ?? [];
    list.push(item);
    this.phases.set(phase, list);
  }

  close(totalBudgetMs: number): Promise<void> {
    this.closing ??= this.run(totalBudgetMs);
    return this.closing;
  }

  private async run(totalBudgetMs: number): Promise<void> {
    const deadline = Date.now() + totalBudgetMs;
    const order = [...this.phases.keys()].sort((a, b) => a - b);
    for (const phase of order) {
      const items = this.phases.get(phase) ?? [];
      const remaining = Math.max(100, deadline - Date.now());
      await Promise.all(
        items.map(async (item) => {
          let timer: NodeJS.Timeout | undefined;
          try {
            await Promise.race([
              item.close(),
              new Promise((_, reject) => {
                timer = setTimeout(() => reject(new Error(`timed out after ${remaining} ms`)), remaining);
              }),
            ]);
            this.logger.debug({ phase, component: item.name }, 'closed');
          } catch (err) {
            this.logger.error({ phase, component: item.name, err: (err as Error).message }, 'close failed');
          } finally {
            if (timer) clearTimeout(timer);
          }
        }),
      );
    }
  }
}
