import { instrumented, lambdaContext, lambdaLogger } from "@nexus/core/lambda";
import * as Sweeper from "@nexus/core/sweeper";

/** Logs JSON; the per-agent health metrics go out as EMF records in the same log (namespace `Nexus/<stage>`). */
const logger = lambdaLogger("nexus-sweeper");
const ctx = lambdaContext();
/** A task looking stuck for this long (queued past due, or running past its lease) is presumed lost. */
const GRACE_MS = Number(process.env.NEXUS_SWEEP_GRACE_SECONDS ?? 300) * 1000;

/**
 * Scheduled by EventBridge: re-queues tasks whose message or worker was lost, then looks at every agent (records
 * health changes such as going offline, emits its metrics, turns its consumer back to match its status).
 */
export const handler = instrumented(logger, async () => {
  const { agents, plans, ...tasks } = await Sweeper.run(ctx, { graceMs: GRACE_MS, logger });
  logger.info("sweep done", {
    ...tasks,
    plans,
    agents: { checked: agents.checked, changed: agents.changed.length, reconciled: agents.reconciled.length },
    agentErrors: agents.errors,
  });
  return tasks;
});
