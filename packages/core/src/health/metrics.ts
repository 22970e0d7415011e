import { metrics } from "../metrics.js";
import type { HealthStatus } from "../schemas.js";
import type { Depths } from "./depths.js";

/** Whether a status counts as alive for the `AgentOnline` metric (a late or erring agent is still there). */
export const isAlive = (status: HealthStatus) => status === "online" || status === "degraded";

/**
 * An agent's health as metrics (dimension `Agent`): `AgentDegraded` (0/1), `QueueDepth` and `DlqDepth` (when known),
 * and `AgentOnline` (0/1) only where the agent is `expected` online: an active agent heard of at least once. A
 * deactivated agent, or one never heard of yet, is not missing, so it gives its offline alarm nothing to fire on.
 */
export function emitMetrics(agentId: string, status: HealthStatus, d: Depths, expected: boolean): void {
  const dimensions = { Agent: agentId };
  if (expected) metrics().count("AgentOnline", isAlive(status) ? 1 : 0, dimensions);
  metrics().count("AgentDegraded", status === "degraded" ? 1 : 0, dimensions);
  if (d.queueDepth !== null) metrics().count("QueueDepth", d.queueDepth, dimensions);
  if (d.dlqDepth !== null) metrics().count("DlqDepth", d.dlqDepth, dimensions);
}

/** How many agents are alive, of all those looked at (no dimension). */
export function emitOnlineCount(online: number): void {
  metrics().count("AgentsOnline", online);
}
