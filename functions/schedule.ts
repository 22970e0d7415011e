import { instrumented, lambdaContext, lambdaLogger } from "@nexus/core/lambda";
import * as Schedules from "@nexus/core/schedules";

const logger = lambdaLogger("nexus-schedules");
const ctx = lambdaContext();

/**
 * Invoked by EventBridge Scheduler with `{scheduleId, scheduledAt}` (the scheduled time from its context attribute).
 * Firing is idempotent per schedule and time, so a repeated delivery starts nothing new. An infrastructure error is
 * thrown: Lambda retries the invocation, then sends it to the schedules' dead-letter queue.
 */
export const handler = instrumented(logger, async (event: unknown) => {
  const parsed = Schedules.FireEvent.safeParse(event);
  if (!parsed.success) {
    logger.error("not a schedule event; ignored", { issues: parsed.error.issues });
    return { status: "ignored" as const, reason: "invalid_event" };
  }
  const { scheduleId, scheduledAt } = parsed.data;
  const fired = await Schedules.fire(ctx, scheduleId, { scheduledAt: new Date(scheduledAt) });
  logger.info("schedule fired", {
    scheduleId,
    scheduledAt,
    status: fired.status,
    ...(fired.reason ? { reason: fired.reason } : {}),
    ...(fired.run ? { outcome: fired.run.outcome, taskId: fired.run.taskId, planId: fired.run.planId } : {}),
  });
  return fired;
});
