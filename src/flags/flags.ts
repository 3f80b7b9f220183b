/**
 * Feature flags behind one thin interface (DESIGN habit 10). Evaluated per call; never cached
 * at start-up, so flipping a flag needs no restart.
 */
export interface FlagContext {
  userId?: string;
}

export interface Flags {
  isEnabled(name: string, ctx?: FlagContext): boolean;
  close(): Promise<void>;
}

export const UNIFIED_REGISTRY_FLAG = 'unified-registry';

/** A mutable map: tests and local runs flip it at will. Unknown names are off. */
export class StaticFlags implements Flags {
  private readonly values = new Map<string, boolean | ((ctx: FlagContext) => boolean)>();
  constructor(initial: Record<string, boolean> = {}) {
    for (const [k, v] of Object.entries(initial)) this.values.set(k, v);
  }
  set(name: string, value: boolean | ((ctx: FlagContext) => boolean)): void {
    this.values.set(name, value);
  }
  isEnabled(name: string, ctx: FlagContext = {}): boolean {
    const v = this.values.get(name);
    return typeof v === 'function' ? v(ctx) : v === true;
  }
  async close(): Promise<void> {}
}
