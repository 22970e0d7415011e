import type { Dimensions, MetricPoint, MetricsSink } from "./metrics.js";

/** CloudWatch takes at most 100 values of a metric in one EMF record. */
const MAX_VALUES = 100;

/**
 * The Lambda side of metrics.ts: points are buffered through an invocation and written on {@link MetricsSink.flush}
 * as CloudWatch Embedded Metric Format records on stdout, one per dimension set (a metric's values in an array, at most
 * 100 to a record), in the namespace given (`Nexus/<stage>`): the records Powertools Metrics writes, without its
 * 14 KB at every cold start. No `service` dimension: a metric's dimensions are exactly those recorded, so the alarms
 * and the dashboard address `TasksFailed{Agent}` whichever function emitted it.
 */
export function emfSink(options: { namespace: string }): MetricsSink {
  let buffered: MetricPoint[] = [];
  return {
    record(point) {
      buffered.push(point);
    },
    flush() {
      if (buffered.length === 0) return;
      const groups = new Map<string, { dimensions: Dimensions; points: MetricPoint[] }>();
      for (const point of buffered) {
        const key = JSON.stringify([point.dimensions.Agent ?? null, point.dimensions.StatusClass ?? null]);
        const group = groups.get(key) ?? { dimensions: point.dimensions, points: [] };
        group.points.push(point);
        groups.set(key, group);
      }
      buffered = [];
      for (const { dimensions, points } of groups.values()) {
        const present = Object.fromEntries(Object.entries(dimensions).filter(([, value]) => value));
        for (let records = valuesByName(points); records.size > 0; ) {
          process.stdout.write(`${JSON.stringify(emfRecord(options.namespace, present, records))}\n`);
        }
      }
    },
  };
}

/** The points' values by metric name, each with its unit. */
function valuesByName(points: MetricPoint[]) {
  const byName = new Map<string, { unit: string; values: number[] }>();
  for (const point of points) {
    const metric = byName.get(point.name) ?? { unit: point.unit, values: [] };
    metric.values.push(point.value);
    byName.set(point.name, metric);
  }
  return byName;
}

/** One EMF record: up to 100 values of each metric left in `metrics`, which are taken out of it. */
function emfRecord(
  namespace: string,
  dimensions: Record<string, string | undefined>,
  metrics: Map<string, { unit: string; values: number[] }>,
) {
  const definitions: { Name: string; Unit: string }[] = [];
  const values: Record<string, number | number[]> = {};
  for (const [name, metric] of metrics) {
    const taken = metric.values.splice(0, MAX_VALUES);
    definitions.push({ Name: name, Unit: metric.unit });
    values[name] = taken.length === 1 ? (taken[0] as number) : taken;
    if (metric.values.length === 0) metrics.delete(name);
  }
  const names = Object.keys(dimensions);
  return {
    _aws: {
      Timestamp: Date.now(),
      CloudWatchMetrics: [{ Namespace: namespace, Dimensions: names.length > 0 ? [names] : [], Metrics: definitions }],
    },
    ...dimensions,
    ...values,
  };
}
