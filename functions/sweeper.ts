import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { contextFromEnv, Sweeper } from "@nexus/core";

const logger = new Logger({ serviceName: "nexus-sweeper" });
/** Per-agent metrics as EMF records in the function's log; the namespace comes from POWERTOOLS_METRICS_NAMESPACE. */
const metrics = new Metrics({
  serviceName: "nexus-sweeper",
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "nexus",
  logger,
});
const ctx = contextFromEnv();
/** A task looking stuck for this long (queued past due, or running past its lease) is presumed lost. */
const GRACE_MS = Number(process.env.NEXUS_SWEEP_GRACE_SECONDS ?? 300) * 1000;

/**
 * Scheduled by EventBridge: re-queues tasks whose message or worker was lost, then looks at every agent (records
 * health changes such as going offline, emits its metrics, turns its consumer back to match its status).
 */
export const handler = async () => {
  const { agents, plans, ...tasks } = await Sweeper.run(ctx, { graceMs: GRACE_MS, metrics, logger });
  logger.info("sweep done", {
    ...tasks,
    plans,
    agents: { checked: agents.checked, changed: agents.changed.length, reconciled: agents.reconciled.length },
    agentErrors: agents.errors,
  });
  return tasks;
};
