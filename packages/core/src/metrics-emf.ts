import { Metrics as PowertoolsMetrics } from "@aws-lambda-powertools/metrics";
import type { Dimensions, MetricPoint, MetricsSink } from "./metrics.js";

/**
 * The Lambda side of metrics.ts: points are buffered through an invocation and written on {@link MetricsSink.flush}
 * as CloudWatch Embedded Metric Format records on stdout (Powertools Metrics), one per dimension set, in the
 * namespace given (`Nexus/<stage>`). No `service` dimension: a metric's dimensions are exactly those recorded, so
 * the alarms and the dashboard address `TasksFailed{Agent}` whichever function emitted it.
 */
export function emfSink(options: { namespace: string; serviceName: string }): MetricsSink {
  const emf = new PowertoolsMetrics({ namespace: options.namespace, serviceName: options.serviceName });
  emf.clearDefaultDimensions();
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
        for (const [name, value] of Object.entries(dimensions)) if (value) emf.addDimension(name, value);
        for (const point of points) emf.addMetric(point.name, point.unit, point.value);
        emf.publishStoredMetrics();
      }
    },
  };
}
