import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { HealthStatus } from "../schemas.js";
import type { Depths } from "./depths.js";

/** Whether a status counts as alive for the `AgentOnline` metric (a late or erring agent is still there). */
export const isAlive = (status: HealthStatus) => status === "online" || status === "degraded";

/**
 * One EMF record per agent (dimension `AgentId`): `AgentOnline` and `AgentDegraded` (0/1), `QueueDepth` and
 * `DlqDepth` (when known).
 */
export function emitMetrics(metrics: Metrics, agentId: string, status: HealthStatus, d: Depths): void {
  metrics.addDimension("AgentId", agentId);
  metrics.addMetric("AgentOnline", MetricUnit.Count, isAlive(status) ? 1 : 0);
  metrics.addMetric("AgentDegraded", MetricUnit.Count, status === "degraded" ? 1 : 0);
  if (d.queueDepth !== null) metrics.addMetric("QueueDepth", MetricUnit.Count, d.queueDepth);
  if (d.dlqDepth !== null) metrics.addMetric("DlqDepth", MetricUnit.Count, d.dlqDepth);
  metrics.publishStoredMetrics();
}
