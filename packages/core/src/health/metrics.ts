import { metrics } from "../metrics.js";
import type { HealthStatus } from "../schemas.js";
import type { Depths } from "./depths.js";

/** Whether a status counts as alive for the `AgentOnline` metric (a late or erring agent is still there). */
export const isAlive = (status: HealthStatus) => status === "online" || status === "degraded";

/**
 * An agent's health as metrics (dimension `Agent`): `AgentOnline` and `AgentDegraded` (0/1), `QueueDepth` and
 * `DlqDepth` (when known).
 */
export function emitMetrics(agentId: string, status: HealthStatus, d: Depths): void {
  const dimensions = { Agent: agentId };
  metrics().count("AgentOnline", isAlive(status) ? 1 : 0, dimensions);
  metrics().count("AgentDegraded", status === "degraded" ? 1 : 0, dimensions);
  if (d.queueDepth !== null) metrics().count("QueueDepth", d.queueDepth, dimensions);
  if (d.dlqDepth !== null) metrics().count("DlqDepth", d.dlqDepth, dimensions);
}

/** How many agents are alive, of all those looked at (no dimension). */
export function emitOnlineCount(online: number): void {
  metrics().count("AgentsOnline", online);
}
