import type { Context } from "../context.js";
import * as Store from "../storage/plans.js";
import type { StepStatus } from "./schema.js";

/** A step's statuses before it ends. */
export const ACTIVE: readonly StepStatus[] = ["pending", "waiting", "running", "waiting_approval"];

/** Releases every waiting step whose dependencies have all succeeded. */
export async function release(ctx: Context, steps: Store.StepRecord[]) {
  const succeeded = new Set(steps.filter((s) => s.status === "succeeded").map((s) => s.id));
  for (const step of steps) {
    if (step.status !== "waiting" || !step.readyToken) continue;
    if (step.dependsOn.every((d) => succeeded.has(d))) await ctx.workflows?.succeed(step.readyToken, {});
  }
}

/**
 * A step of run `run` succeeded: recorded, then every step waiting only on it is released. The record is written
 * before the steps are read, so of two steps ending at once, the one read last sees both and releases what waited on
 * both. Idempotent: a second call records nothing and releases again (a released token is no longer waited on).
 * Returns the steps as read after the write.
 *
 * `task`: an agent step's task, recorded with the success. Its success may be reported before the dispatch that
 * submitted it records it on the step, so the step may not name it yet; it must not name another.
 */
export async function succeedStep(
  ctx: Context,
  step: { planId: string; run: number; stepId: string; task?: { id: string; createdAt: string } },
): Promise<{ done: boolean; steps: Store.StepRecord[] | undefined }> {
  const { task } = step;
  const done = await Store.setStep(ctx, step.planId, step.stepId, {
    run: step.run,
    from: ACTIVE,
    to: "succeeded",
    set: { finishedAt: ctx.now().toISOString(), ...(task ? { taskId: task.id, startedAt: task.createdAt } : {}) },
    remove: ["readyToken", "approvalToken", "error"],
    event: { type: "step_succeeded" },
    ...(task
      ? {
          also: {
            clause: "(attribute_not_exists(#task) OR #task = :task)",
            names: { "#task": "taskId" },
            values: { ":task": task.id },
          },
        }
      : {}),
  });
  const loaded = await Store.load(ctx, step.planId);
  if (!loaded || loaded.plan.run !== step.run) return { done, steps: undefined };
  await release(ctx, loaded.steps);
  return { done, steps: loaded.steps };
}
