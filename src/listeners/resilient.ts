import type { Logger } from '../shared/logger.js';

/**
 * Attaches a source listener. `onError` is called when the underlying listener dies (Firestore
 * onSnapshot error, RTDB cancel); `onHealthy` once data arrived again. Returns the detach function.
 */
export type AttachFn = (cb: { onError(err: Error): void; onHealthy(): void }) => () => void;

export interface ResilientOptions {
  kind: string;
  attach: AttachFn;
  backoffBaseMs: number;
  backoffMaxMs: number;
  logger: Logger;
  /** Metrics hooks: attached-state changes (+1 once the source delivered, -1 on error/stop) and re-attaches. */
  onAttached?(delta: 1 | -1): void;
  onReattach?(): void;
  random?: () => number;
}

/** Exponential backoff with ±50 % jitter: base·2^attempt capped at max. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.max(1, Math.round(raw * (0.5 + random())));
}

/**
 * A watcher that re-attaches itself with exponential backoff and jitter when its source errors;
 * the attempt counter resets once the source delivers again. `stop()` is idempotent.
 */
export class ResilientWatch {
  private detach: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private attached = false;
  private stopped = false;
  private generation = 0;

  constructor(private readonly o: ResilientOptions) {}

  start(): this {
    this.connect();
    return this;
  }

  private setAttached(v: boolean) {
    if (v === this.attached) return;
    this.attached = v;
    this.o.onAttached?.(v ? 1 : -1);
  }

  private connect() {
    if (this.stopped) return;
    const gen = ++this.generation;
    try {
      this.detach = this.o.attach({
        onError: (err) => {
          if (gen === this.generation) this.fail(err);
        },
        onHealthy: () => {
          if (gen !== this.generation) return;
          this.attempt = 0;
          this.setAttached(true);
        },
      });
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private fail(err: Error) {
    if (this.stopped) return;
    this.generation++;
    this.safeDetach();
    this.setAttached(false);
    const delay = backoffDelay(this.attempt++, this.o.backoffBaseMs, this.o.backoffMaxMs, this.o.random);
    this.o.logger.warn({ watcher: this.o.kind, err: err.message, retry_in_ms: delay }, 'watcher failed, re-attaching');
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopped) return;
      this.o.onReattach?.();
      this.connect();
    }, delay);
    this.timer.unref?.();
  }

  private safeDetach() {
    const d = this.detach;
    this.detach = undefined;
    try {
      d?.();
    } catch (err) {
      this.o.logger.debug({ watcher: this.o.kind, err: (err as Error).message }, 'detach failed');
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    this.safeDetach();
    this.setAttached(false);
  }
}
