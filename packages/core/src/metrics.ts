/**
 * Nexus's metrics: one small interface the domain records through at the point of truth (a task submitted, an attempt
 * ending, a dead letter ingested, a plan run settling, an API request answered, an agent's health judged), and the
 * sinks that take them: CloudWatch EMF in Lambda (metrics-emf.ts, flushed once per invocation), an in-process
 * {@link MemoryMetrics} in the local runtime (what the local alarms and the dashboard read).
 *
 * The names, units and dimensions are CloudWatch's: namespace `Nexus/<stage>`, dimension `Agent` per agent,
 * `StatusClass` for API requests. Nothing else is a dimension, so an alarm on `TasksFailed{Agent=diag}` matches what
 * every function emits.
 */

/** Every metric Nexus emits, with its unit. */
export const METRICS = {
  /** A task stored and sent to its agent's queue (per Agent). */
  TasksSubmitted: "Count",
  /** An attempt that succeeded (per Agent). */
  TasksSucceeded: "Count",
  /** A task failed for good: attempts spent, or an error that is not retriable (per Agent). */
  TasksFailed: "Count",
  /** A failed attempt sent back to the queue for another (per Agent). */
  TasksRetried: "Count",
  /** From an attempt's start to its outcome (per Agent). */
  TaskDuration: "Milliseconds",
  /** From submission to the first attempt's start (per Agent). */
  TaskQueuedTime: "Milliseconds",
  /** A dead letter moved from an agent's DLQ into the failures inbox (per Agent). */
  DlqArrivals: "Count",
  PlanRunsSucceeded: "Count",
  PlanRunsFailed: "Count",
  /** An API response (dimension StatusClass: 2xx, 3xx, 4xx, 5xx). */
  ApiRequests: "Count",
  /** From the request's arrival to its response. */
  ApiLatency: "Milliseconds",
  /** Agents alive (online or degraded) at a health check. */
  AgentsOnline: "Count",
  /** 1 when the agent is alive (online or degraded), else 0 (per Agent). */
  AgentOnline: "Count",
  /** 1 when the agent is degraded, else 0 (per Agent). */
  AgentDegraded: "Count",
  /** Messages waiting, in flight and delayed on the agent's queue, at a health check (per Agent). */
  QueueDepth: "Count",
  /** Messages on the agent's DLQ, at a health check (per Agent). */
  DlqDepth: "Count",
} as const;

export type MetricName = keyof typeof METRICS;
export type MetricUnit = (typeof METRICS)[MetricName];
export type CountMetric = { [K in MetricName]: (typeof METRICS)[K] extends "Count" ? K : never }[MetricName];
export type DurationMetric = { [K in MetricName]: (typeof METRICS)[K] extends "Milliseconds" ? K : never }[MetricName];

/** The dimensions Nexus uses; a metric has at most one of them. */
export interface Dimensions {
  /** The agent's id. */
  Agent?: string;
  /** An HTTP status class: `2xx`, `3xx`, `4xx`, `5xx`. */
  StatusClass?: string;
}

/** One recorded value. */
export interface MetricPoint {
  name: MetricName;
  unit: MetricUnit;
  value: number;
  dimensions: Dimensions;
  /** Epoch milliseconds. */
  at: number;
}

/** Where recorded values go. */
export interface MetricsSink {
  record(point: MetricPoint): void;
  /** Writes out what is buffered (EMF: one record per dimension set); the Lambda wrapper calls it per invocation. */
  flush?(): void;
}

/** What the domain records through. */
export interface Metrics {
  /** Adds `value` (default 1) to a count. */
  count(name: CountMetric, value?: number, dimensions?: Dimensions): void;
  /** Records a duration in milliseconds. */
  duration(name: DurationMetric, ms: number, dimensions?: Dimensions): void;
}

/** The metrics namespace of a stage: `Nexus/<stage>` (locally `Nexus/local`). */
export const metricsNamespace = (stage: string) => `Nexus/${stage}`;

/** `200` → `2xx`. */
export const statusClass = (status: number) => `${Math.floor(status / 100)}xx`;

const sinks = new Set<MetricsSink>();

function record(name: MetricName, value: number, dimensions: Dimensions = {}) {
  if (sinks.size === 0 || !Number.isFinite(value)) return;
  const point: MetricPoint = { name, unit: METRICS[name], value, dimensions, at: Date.now() };
  for (const sink of sinks) sink.record(point);
}

const recorder: Metrics = {
  count: (name, value = 1, dimensions) => record(name, value, dimensions),
  duration: (name, ms, dimensions) => record(name, Math.max(0, ms), dimensions),
};

/** The process's metrics: every installed sink gets what is recorded (none installed → dropped). */
export function metrics(): Metrics {
  return recorder;
}

/** Installs a sink (the Lambda wrapper's EMF sink, the local runtime's memory); returns what removes it. */
export function useMetricsSink(sink: MetricsSink): () => void {
  sinks.add(sink);
  return () => {
    sinks.delete(sink);
  };
}

/** Flushes every installed sink (end of a Lambda invocation). */
export function flushMetrics(): void {
  for (const sink of sinks) sink.flush?.();
}

const keyOf = (name: MetricName, dimensions: Dimensions) =>
  `${name}|${dimensions.Agent ?? ""}|${dimensions.StatusClass ?? ""}`;

/** How many points past its bounds a {@link MemoryMetrics} may hold before it drops the oldest. */
const TRIM_CHUNK = 1024;

/** A query on recorded values: a metric, dimensions to match (unset = any), a window. */
export interface MetricQuery {
  name: MetricName;
  dimensions?: Dimensions;
  /** Epoch milliseconds; points at or after it. */
  since?: number;
}

/**
 * The local runtime's sink: keeps each point for `retentionMs` (default an hour, at most `maxPoints`, give or take
 * {@link TRIM_CHUNK}; queries take a window, so a few older points kept do not count) and running totals since start,
 * by metric and dimensions. What the local alarms evaluate and the dashboard shows.
 */
export class MemoryMetrics implements MetricsSink {
  private readonly points: MetricPoint[] = [];
  private readonly totals = new Map<string, { name: MetricName; dimensions: Dimensions; sum: number; n: number }>();
  private readonly listeners = new Set<(point: MetricPoint) => void>();
  private readonly retentionMs: number;
  private readonly maxPoints: number;

  constructor(options: { retentionMs?: number; maxPoints?: number } = {}) {
    this.retentionMs = options.retentionMs ?? 3_600_000;
    this.maxPoints = options.maxPoints ?? 100_000;
  }

  record(point: MetricPoint): void {
    this.points.push(point);
    // Old points go in chunks (a splice moves every point kept), at most TRIM_CHUNK past the bounds.
    if (
      this.points.length > this.maxPoints + TRIM_CHUNK ||
      (this.points[TRIM_CHUNK]?.at ?? Infinity) < point.at - this.retentionMs
    ) {
      const cutoff = point.at - this.retentionMs;
      let drop = Math.max(0, this.points.length - this.maxPoints);
      while (drop < this.points.length && (this.points[drop]?.at ?? 0) < cutoff) drop++;
      this.points.splice(0, drop);
    }
    const key = keyOf(point.name, point.dimensions);
    const total = this.totals.get(key) ?? { name: point.name, dimensions: point.dimensions, sum: 0, n: 0 };
    total.sum += point.value;
    total.n++;
    this.totals.set(key, total);
    for (const listener of this.listeners) listener(point);
  }

  /** Points kept that match the query, oldest first. */
  query(q: MetricQuery): MetricPoint[] {
    const since = q.since ?? 0;
    return this.points.filter(
      (p) =>
        p.name === q.name &&
        p.at >= since &&
        (q.dimensions?.Agent === undefined || p.dimensions.Agent === q.dimensions.Agent) &&
        (q.dimensions?.StatusClass === undefined || p.dimensions.StatusClass === q.dimensions.StatusClass),
    );
  }

  /** Sum of the matching points kept (a count over a window). */
  sum(q: MetricQuery): number {
    return this.query(q).reduce((sum, p) => sum + p.value, 0);
  }

  /** The latest matching value kept (a gauge such as AgentOnline), or undefined. */
  latest(q: MetricQuery): number | undefined {
    return this.query(q).at(-1)?.value;
  }

  /** Totals since start per metric and dimension set (not bounded by retention). */
  snapshot(): Array<{ name: MetricName; dimensions: Dimensions; sum: number; count: number }> {
    return [...this.totals.values()].map(({ name, dimensions, sum, n }) => ({ name, dimensions, sum, count: n }));
  }

  /** Calls `listener` with every point recorded from now on; returns what stops it. */
  subscribe(listener: (point: MetricPoint) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }
}
