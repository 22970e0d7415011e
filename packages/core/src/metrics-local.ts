import type { MetricReader, MetricRef } from "./alarms.js";
import { type MetricName, type MetricPoint, type MetricsSink, metricsNamespace } from "./metrics.js";

interface Bucket {
  sum: number;
  count: number;
  min: number;
  max: number;
  /** For percentiles: every value up to {@link MAX_SAMPLES}, then a uniform reservoir of them. */
  samples: number[];
}

export interface LocalMetricsOptions {
  /** Namespace of what `put` records (default `Nexus/local`). */
  namespace?: string;
  /** Width of a stored bucket (default 1 s): values within one are aggregated. */
  resolutionMs?: number;
  /** How long buckets are kept (default 30 minutes: the longest alarm window, 15 minutes, twice). */
  retentionMs?: number;
  /** At most this many series (metric and dimensions); values of further series are dropped (default 2,000). */
  maxSeries?: number;
  now?: () => number;
}

/** Values per bucket kept for percentiles. */
export const MAX_SAMPLES = 200;

/**
 * The local runtime's metrics for its alarms, installed as a sink (metrics.ts's `useMetricsSink`): each series (namespace, name, dimensions) as aggregated buckets (sum, count, min, max
 * and a bounded sample for percentiles), kept for a bounded time, with a bounded number of series: memory stays
 * bounded whatever the traffic. Reads the statistics CloudWatch alarms use ({@link read}).
 */
export class LocalMetrics implements MetricsSink {
  readonly namespace: string;
  private readonly series = new Map<string, Map<number, Bucket>>();
  private readonly resolutionMs: number;
  private readonly retentionMs: number;
  private readonly maxSeries: number;
  private readonly now: () => number;
  private lastPrune = 0;
  /** Values dropped because the series limit was reached. */
  dropped = 0;

  constructor(options: LocalMetricsOptions = {}) {
    this.namespace = options.namespace ?? metricsNamespace("local");
    this.resolutionMs = Math.max(1, options.resolutionMs ?? 1000);
    this.retentionMs = options.retentionMs ?? 30 * 60_000;
    this.maxSeries = options.maxSeries ?? 2000;
    this.now = options.now ?? Date.now;
  }

  /** One value of one of Nexus's metrics now, in this store's namespace. */
  put(name: MetricName, value: number, dimensions: Readonly<Record<string, string>> = {}): void {
    this.observe(this.namespace, name, dimensions, value);
  }

  record(point: MetricPoint): void {
    const dimensions: Record<string, string> = {};
    for (const [key, value] of Object.entries(point.dimensions)) if (value !== undefined) dimensions[key] = value;
    this.observe(this.namespace, point.name, dimensions, point.value);
  }

  /** A value of any metric (e.g. `AWS/SQS` queue attributes sampled from the local endpoint). */
  observe(namespace: string, name: string, dimensions: Readonly<Record<string, string>>, value: number): void {
    if (!Number.isFinite(value)) return;
    const now = this.now();
    if (now - this.lastPrune > this.retentionMs / 10) this.prune(now);
    const key = seriesKey(namespace, name, dimensions);
    let buckets = this.series.get(key);
    if (!buckets) {
      if (this.series.size >= this.maxSeries) {
        this.dropped++;
        return;
      }
      buckets = new Map();
      this.series.set(key, buckets);
    }
    const at = Math.floor(now / this.resolutionMs);
    const bucket = buckets.get(at);
    if (!bucket) {
      buckets.set(at, { sum: value, count: 1, min: value, max: value, samples: [value] });
    } else {
      bucket.sum += value;
      bucket.count++;
      bucket.min = Math.min(bucket.min, value);
      bucket.max = Math.max(bucket.max, value);
      if (bucket.samples.length < MAX_SAMPLES) bucket.samples.push(value);
      else {
        const slot = Math.floor(Math.random() * bucket.count);
        if (slot < MAX_SAMPLES) bucket.samples[slot] = value;
      }
    }
  }

  /** The metric's statistic over `[startMs, endMs)`; undefined when it has no value there (CloudWatch's "no data"). */
  read: MetricReader = (metric: MetricRef, startMs: number, endMs: number) => {
    const buckets = this.series.get(seriesKey(metric.namespace, metric.name, metric.dimensions));
    if (!buckets) return undefined;
    const first = Math.ceil(startMs / this.resolutionMs);
    const last = Math.ceil(endMs / this.resolutionMs);
    const inRange: Bucket[] = [];
    for (const [at, bucket] of buckets) if (at >= first && at < last) inRange.push(bucket);
    if (inRange.length === 0) return undefined;
    switch (metric.statistic) {
      case "Sum":
        return inRange.reduce((a, b) => a + b.sum, 0);
      case "SampleCount":
        return inRange.reduce((a, b) => a + b.count, 0);
      case "Maximum":
        return Math.max(...inRange.map((b) => b.max));
      case "Minimum":
        return Math.min(...inRange.map((b) => b.min));
      case "Average":
        return inRange.reduce((a, b) => a + b.sum, 0) / inRange.reduce((a, b) => a + b.count, 0);
      case "p99":
        return percentile(
          inRange.flatMap((b) => b.samples),
          99,
        );
    }
  };

  /** Series held now (for tests and the bound). */
  get size(): number {
    return this.series.size;
  }

  private prune(now: number): void {
    this.lastPrune = now;
    const oldest = Math.floor((now - this.retentionMs) / this.resolutionMs);
    for (const [key, buckets] of this.series) {
      for (const at of buckets.keys()) if (at < oldest) buckets.delete(at);
      if (buckets.size === 0) this.series.delete(key);
    }
  }
}

function seriesKey(namespace: string, name: string, dimensions: Readonly<Record<string, string>>): string {
  const dims = Object.entries(dimensions)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  return `${namespace}|${name}|${dims}`;
}

/** The nearest-rank percentile of the values. */
export function percentile(values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}
