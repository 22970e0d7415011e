import { instrumented, lambdaContext, lambdaLogger } from "@nexus/core/lambda";
import * as Sweeper from "@nexus/core/sweeper";

/** Logs JSON; the per-agent health metrics go out as EMF records in the same log (namespace `Nexus/<stage>`). */
const logger = lambdaLogger("nexus-sweeper");
const ctx = lambdaContext();
/** A task looking stuck for this long (queued past due, or running past its lease) is presumed lost. */
const GRACE_MS = Number(process.env.NEXUS_SWEEP_GRACE_SECONDS ?? 300) * 1000;

/** What a sweep leaves of its time for agents: tasks and plan runs stop being read this long before the timeout. */
const RESERVE_MS = 45_000;

/**
 * Scheduled by EventBridge: re-queues tasks whose message or worker was lost, then looks at every agent (records
 * health changes such as going offline, emits its metrics, turns its consumer back to match its status). A backlog
 * too large to read in one run is read as far as time allows (`complete: false`) and the next run goes on from there,
 * and so are open plan runs: agents are always swept.
 */
export const handler = instrumented(logger, async (_event: unknown, context) => {
  const deadline = Date.now() + context.getRemainingTimeInMillis() - RESERVE_MS;
  const { agents, plans, ...tasks } = await Sweeper.run(ctx, { graceMs: GRACE_MS, logger, deadline });
  if (!tasks.complete) logger.warn("sweep ran out of time for tasks; the next one goes on from there", tasks);
  if (!plans.complete) logger.warn("sweep ran out of time for plan runs; the next one goes on from there", plans);
  logger.info("sweep done", {
    ...tasks,
    plans,
    agents: { checked: agents.checked, changed: agents.changed.length, reconciled: agents.reconciled.length },
    agentErrors: agents.errors,
  });
  return tasks;
});
