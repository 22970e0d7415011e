import type { Context } from "../context.js";
import type { TaskError, TaskStatus } from "../schemas.js";
import { clearToken } from "../storage/tasks.js";

/** What a plan step's task tells its plan when it ends. */
export interface StepTaskOutcome {
  id: string;
  taskToken?: string | undefined;
  status: TaskStatus;
  error?: TaskError | null | undefined;
}

/**
 * Reports a finished task to the plan step waiting on it (through its task token), then forgets the token.
 * Throws when Step Functions could not be told, so the message is redelivered and the report retried; a
 * token whose execution has ended is not an error (the plan stopped).
 */
export async function reportToPlan(ctx: Context, task: StepTaskOutcome): Promise<void> {
  const token = task.taskToken;
  if (!token || !ctx.workflows) return;
  if (task.status === "succeeded") {
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
