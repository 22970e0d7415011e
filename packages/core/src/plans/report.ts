import type { Context } from "../context.js";
import type { TaskError, TaskStatus } from "../schemas.js";
import * as Store from "../storage/plans.js";
import { clearToken } from "../storage/tasks.js";
import { succeedStep } from "./steps.js";

/** What a plan step's task tells its plan when it ends. */
export interface StepTaskOutcome {
  id: string;
  taskToken?: string | undefined;
  status: TaskStatus;
  error?: TaskError | null | undefined;
  planId?: string | null | undefined;
  stepId?: string | null | undefined;
  createdAt?: string | undefined;
}

/**
 * Reports a finished task to the plan step waiting on it (through its task token), then forgets the token. A success
 * is recorded on the step first, and the steps waiting on it are released: the step's iteration then ends with the
 * token, with no state of its own (one state transition and one runner invocation fewer per step). Throws when the
 * plan or Step Functions could not be told, so the message is redelivered and the report retried (each part is
 * idempotent); a token whose execution has ended is not an error (the plan stopped).
 */
export async function reportToPlan(ctx: Context, task: StepTaskOutcome): Promise<void> {
  const token = task.taskToken;
  if (!token || !ctx.workflows) return;
  if (task.status === "succeeded") {
    if (task.planId && task.stepId) await recordSuccess(ctx, task.planId, task.stepId, task);
    await ctx.workflows.succeed(token, { taskId: task.id });
  } else if (task.status === "failed") {
    const error = task.error ?? { code: "task_failed", message: "the task failed", retriable: false };
    await ctx.workflows.fail(token, error.code, error.message);
  } else if (task.status === "cancelled") {
    await ctx.workflows.fail(token, "task_cancelled", `task ${task.id} was cancelled`);
  } else {
    return;
  }
  await clearToken(ctx, task.id, token);
}

/** Tells the plan step that an attempt of its task started (resets the step's heartbeat clock). */
export async function heartbeat(ctx: Context, taskToken: string | undefined): Promise<void> {
  if (taskToken && ctx.workflows) await ctx.workflows.heartbeat(taskToken).catch(() => false);
}

/**
 * The step's success, in the run the step is in now. A task of an earlier run cannot report one: a run ends with its
 * tasks in flight cancelled before another starts (runner.ts, stopSteps), and a cancelled task never succeeds.
 */
async function recordSuccess(ctx: Context, planId: string, stepId: string, task: StepTaskOutcome) {
  const step = await Store.stepRun(ctx, planId, stepId);
  if (!step) return;
  const createdAt = task.createdAt ?? ctx.now().toISOString();
  await succeedStep(ctx, { planId, run: step.run, stepId, task: { id: task.id, createdAt } });
}
