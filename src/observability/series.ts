import type { Registry } from 'prom-client';

/**
 * Metrics updated on every call, kept in plain objects and exported through a prom-client registry at scrape
 * time. prom-client builds a label hash string (and validates the labels) on every `inc` and `observe`, even
 * through label-bound children; here a call finds its series through nested maps, one lookup per label, and
 * updates numbers, allocating nothing. The registry sees ordinary counters and histograms.
 */

type Level<C> = Map<string, Level<C> | C>;

/**
 * @internal Values by label values, in nested maps: a lookup per label and no allocation per call. Label values
 * must be bounded (the callers bound them).
 */
export class ChildCache<C> {
  readonly #root: Level<C> = new Map();
  readonly #make: (values: string[]) => C;

  constructor(make: (values: string[]) => C) {
    this.#make = make;
  }

  get1(a: string): C {
    return (this.#root.get(a) as C | undefined) ?? this.#add(this.#root, [a]);
  }

  get2(a: string, b: string): C {
    const m = this.#level(this.#root, a);
    return (m.get(b) as C | undefined) ?? this.#add(m, [a, b]);
  }

  get3(a: string, b: string, c: string): C {
    const m = this.#level(this.#level(this.#root, a), b);
    return (m.get(c) as C | undefined) ?? this.#add(m, [a, b, c]);
  }

  get4(a: string, b: string, c: string, d: string): C {
    const m = this.#level(this.#level(this.#level(this.#root, a), b), c);
    return (m.get(d) as C | undefined) ?? this.#add(m, [a, b, c, d]);
  }

  get6(a: string, b: string, c: string, d: string, e: string, f: string): C {
    const m = this.#level(this.#level(this.#level(this.#level(this.#level(this.#root, a), b), c), d), e);
    return (m.get(f) as C | undefined) ?? this.#add(m, [a, b, c, d, e, f]);
  }

  get5(a: string, b: string, c: string, d: string, e: string): C {
    const m = this.#level(this.#level(this.#level(this.#level(this.#root, a), b), c), d);
    return (m.get(e) as C | undefined) ?? this.#add(m, [a, b, c, d, e]);
  }

  /** Forgets every value. */
  clear(): void {
    this.#root.clear();
  }

  #level(map: Level<C>, key: string): Level<C> {
    let next = map.get(key) as Level<C> | undefined;
    if (next === undefined) {
      next = new Map();
      map.set(key, next);
    }
    return next;
  }

  /** A miss: once per label combination. */
  #add(map: Level<C>, values: string[]): C {
    const child = this.#make(values);
    map.set(values[values.length - 1] as string, child);
    return child;
  }
}

/** One exported value, in the shape prom-client's registry formats. */
interface MetricValue {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName?: string;
}

interface SeriesOptions {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly registers: readonly Registry[];
}

/** What prom-client's registry needs from a metric: its name, help, type, `get()` and `reset()`. */
abstract class ExportedMetric<S extends { readonly labels: Record<string, string> }> {
  readonly name: string;
  readonly help: string;
  abstract readonly type: 'counter' | 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames: readonly string[];
  protected readonly all: S[] = [];
  readonly #children: ChildCache<S>;

  constructor(options: SeriesOptions) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    this.#children = new ChildCache((values) => {
      const labels: Record<string, string> = {};
      for (const [i, name] of this.labelNames.entries()) labels[name] = values[i] ?? '';
      const series = this.create(labels);
      this.all.push(series);
      return series;
    });
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  protected abstract create(labels: Record<string, string>): S;
  protected abstract values(): MetricValue[];

  /** The series for these label values (in `labelNames` order). */
  series1(a: string): S {
    return this.#children.get1(a);
  }

  series2(a: string, b: string): S {
    return this.#children.get2(a, b);
  }

  series3(a: string, b: string, c: string): S {
    return this.#children.get3(a, b, c);
  }

  series4(a: string, b: string, c: string, d: string): S {
    return this.#children.get4(a, b, c, d);
  }

  series6(a: string, b: string, c: string, d: string, e: string, f: string): S {
    return this.#children.get6(a, b, c, d, e, f);
  }

  series5(a: string, b: string, c: string, d: string, e: string): S {
    return this.#children.get5(a, b, c, d, e);
  }

  /** Read by the registry at scrape time. */
  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    values: MetricValue[];
    aggregator: string;
  }> {
    return { name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: 'sum' };
  }

  /** Called by `registry.resetMetrics()`. */
  reset(): void {
    this.all.length = 0;
    this.#children.clear();
  }
}

/** One counter series. */
export interface CounterSeries {
  readonly labels: Record<string, string>;
  value: number;
}

/** A counter whose series are plain objects: `series…(labels).value += n` on the hot path. */
export class LocalCounter extends ExportedMetric<CounterSeries> {
  readonly type = 'counter';

  protected create(labels: Record<string, string>): CounterSeries {
    return { labels, value: 0 };
  }

  protected values(): MetricValue[] {
    return this.all.map((s) => ({ labels: s.labels, value: s.value }));
  }
}

/** One histogram series: per-bucket counts (not cumulative), sum and count. */
export class HistogramSeries {
  readonly labels: Record<string, string>;
  readonly counts: number[];
  sum = 0;
  count = 0;
  readonly #bounds: readonly number[];

  constructor(labels: Record<string, string>, bounds: readonly number[]) {
    this.labels = labels;
    this.#bounds = bounds;
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        (this.counts[i] as number)++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

/** A histogram whose series are plain objects; exported with cumulative `le` buckets like prom-client's. */
export class LocalHistogram extends ExportedMetric<HistogramSeries> {
  readonly type = 'histogram';
  readonly #bounds: readonly number[];

  constructor(options: SeriesOptions & { readonly buckets: readonly number[] }) {
    super(options);
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
  }

  protected create(labels: Record<string, string>): HistogramSeries {
    return new HistogramSeries(labels, this.#bounds);
  }

  protected values(): MetricValue[] {
    const out: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.all) {
      let cumulative = 0;
      for (const [i, le] of this.#bounds.entries()) {
        cumulative += s.counts[i] as number;
        out.push({ labels: { le, ...s.labels }, value: cumulative, metricName: bucket });
      }
      out.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: bucket });
      out.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      out.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return out;
  }
}
