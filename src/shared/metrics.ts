import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics (prom-client) on a registry owned by the caller, so that several services in
 * one test process do not collide. Components get their metric by name; asking twice returns the
 * same one.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly byName = new Map<string, Counter<string> | Gauge<string> | Histogram<string>>();

  constructor(opts: { defaultMetrics?: boolean; labels?: Record<string, string> } = {}) {
    if (opts.labels) this.registry.setDefaultLabels(opts.labels);
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  counter(name: string, help: string, labelNames: string[] = []): Counter<string> {
    return this.get(name, () => new Counter({ name, help, labelNames, registers: [this.registry] })) as Counter<string>;
  }

  gauge(name: string, help: string, labelNames: string[] = []): Gauge<string> {
    return this.get(name, () => new Gauge({ name, help, labelNames, registers: [this.registry] })) as Gauge<string>;
  }

  histogram(name: string, help: string, labelNames: string[] = [], buckets?: number[]): Histogram<string> {
    return this.get(name, () => new Histogram({ name, help, labelNames, registers: [this.registry], ...(buckets ? { buckets } : {}) })) as Histogram<string>;
  }

  /** Current value of a counter or gauge (summed over labels matching `labels`), for /healthz and tests. */
  async value(name: string, labels: Record<string, string> = {}): Promise<number> {
    const m = this.byName.get(name);
    if (!m) return 0;
    const data = await m.get();
    return data.values
      .filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x))
      .filter((v) => !('metricName' in v) || v.metricName === name)
      .reduce((a, v) => a + v.value, 0);
  }

  private get(name: string, make: () => Counter<string> | Gauge<string> | Histogram<string>) {
    let m = this.byName.get(name);
    if (!m) {
      m = make();
      this.byName.set(name, m);
    }
    return m;
  }
}
