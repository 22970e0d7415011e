import type { Context } from "../context.js";
import type { Logger } from "../log.js";
import * as Store from "../storage/plans.js";
import * as Sweeps from "../storage/sweeps.js";
import { executionArnOf } from "../workflows.js";
import { executionName, startRun } from "./plans.js";
import { handle } from "./runner.js";
import { OPEN_PLAN_STATUSES, type PlanStatus } from "./schema.js";

export interface RecoverOptions {
  /**
   * The local runtime restarted: every execution died with the old process. Each open run is resumed from its
   * stored step states (a new execution of the same run), or settled at once when a step had already failed.
   */
  restart?: boolean;
  /** Only plans last changed before this instant (ISO 8601) are resumed on a restart. */
  changedBefore?: string;
  /** A plan stored but never started is started once it is this old (its API call died in between). */
  graceMs: number;
  logger: Logger;
  /**
   * When to stop looking at runs (milliseconds since the epoch, by the system clock), so the sweeper's other work
   * still fits its timeout: each run costs a DescribeExecution, which Step Functions meters. The next recovery with a
   * deadline goes on from where this one stopped.
   */
  deadline?: number;
}

export interface RecoverResult {
  checked: number;
  /** Runs given a new execution (restart), or started for the first time. */
  resumed: number;
  /** Runs settled here: their execution had ended without settling the plan. */
  settled: number;
  /**
   * Whether the open runs were read to their end (from where the last sweep cut short stopped): false when `deadline`
   * came first.
   */
  complete: boolean;
}

/** How an ended execution is named in the plan's error. */
const ENDED: Record<string, { code: string; what: string }> = {
  FAILED: { code: "execution_failed", what: "failed" },
  ABORTED: { code: "execution_aborted", what: "was stopped" },
  TIMED_OUT: { code: "execution_timed_out", what: "timed out" },
};

/**
 * Finds plan runs that nothing will finish and finishes them. In AWS (the sweeper): a run whose execution ended
 * without settling the plan (stopped from the console, timed out, failed outside the runner) is settled with the
 * reason, and a plan stored but never started is started. Locally at start (`restart`): every open run resumes.
 */
export async function recover(ctx: Context, options: RecoverOptions): Promise<RecoverResult> {
  const result: RecoverResult = { checked: 0, resumed: 0, settled: 0, complete: true };
  const stateMachineArn = ctx.workflows?.stateMachineArn;
  if (!stateMachineArn) return result;
  const startedBefore = new Date(ctx.now().getTime() - options.graceMs).toISOString();
  // With a deadline, a sweep goes on where the last one it cut short stopped (the page it was in), so every open run
  // is looked at however many there are, over as many sweeps as that takes.
  const resumable = options.deadline !== undefined;
  const saved = resumable ? await Sweeps.getPosition(ctx, "plans") : undefined;
  const first = Math.max(0, OPEN_PLAN_STATUSES.indexOf(saved?.status as PlanStatus));
  let stopped: Sweeps.SweepPosition | undefined;
  statuses: for (const status of OPEN_PLAN_STATUSES.slice(first)) {
    let cursor = (status === saved?.status && saved.cursor) || undefined;
    do {
      const { page, from } = await Sweeps.readFrom(cursor, saved, (at) =>
        Store.list(ctx, { status, limit: 100, cursor: at }),
      );
      cursor = from;
      for (const plan of page.items) {
        if (Sweeps.pastDeadline(options.deadline)) {
          result.complete = false;
          stopped = { status, cursor: cursor ?? "" };
          break statuses;
        }
        result.checked++;
        try {
          const outcome = options.restart
            ? await resume(ctx, plan, options)
            : await reconcile(ctx, plan, stateMachineArn, startedBefore, options.logger);
          if (outcome === "resumed") result.resumed++;
          if (outcome === "settled") result.settled++;
        } catch (error) {
          options.logger.error("plan could not be recovered", { planId: plan.id, run: plan.run, error });
        }
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }
  if (resumable && (stopped || saved)) await Sweeps.setPosition(ctx, "plans", stopped);
  return result;
}

type Outcome = "resumed" | "settled" | undefined;

/** A restart: a run with a failed step fails as its execution would have; any other run gets a new execution. */
async function resume(ctx: Context, plan: Store.PlanRecord, options: RecoverOptions): Promise<Outcome> {
  if (options.changedBefore && plan.updatedAt >= options.changedBefore) return undefined;
  const loaded = await Store.load(ctx, plan.id);
  if (!loaded) return undefined;
  const failed = loaded.steps.some((s) => s.run === plan.run && s.status === "failed");
  if (failed) {
    await handle(ctx, { op: "finish", planId: plan.id, run: plan.run, outcome: "failed" }, options.logger);
    return "settled";
  }
  await startRun(ctx, plan.id, plan.run);
  options.logger.info("plan run resumed", { planId: plan.id, run: plan.run });
  return "resumed";
}

/** The sweeper: settle a run whose execution has ended, start one that never started. */
async function reconcile(
  ctx: Context,
  plan: Store.PlanRecord,
  stateMachineArn: string,
  startedBefore: string,
  logger: Logger,
): Promise<Outcome> {
  const workflows = ctx.workflows;
  if (!workflows) return undefined;
  const execution = await workflows.describe(executionArnOf(stateMachineArn, executionName(plan.id, plan.run)));
  if (!execution) {
    if (plan.status !== "pending" || plan.updatedAt >= startedBefore) return undefined;
    await startRun(ctx, plan.id, plan.run);
    logger.warn("plan run was stored but never started; started", { planId: plan.id, run: plan.run });
    return "resumed";
  }
  if (execution.status === "RUNNING" || execution.status === "PENDING_REDRIVE") return undefined;
  const ended = ENDED[execution.status];
  const detail = [execution.error, execution.cause].filter(Boolean).join(": ");
  const failure = ended
    ? {
        Error: ended.code,
        Cause: `the plan's execution ${ended.what} without settling it${detail ? ` (${detail})` : ""}`,
      }
    : undefined;
  const settled = (await handle(
    ctx,
    {
      op: "finish",
      planId: plan.id,
      run: plan.run,
      outcome: ended ? "failed" : "succeeded",
      ...(failure ? { failure } : {}),
    },
    logger,
  )) as { done: boolean };
  if (settled.done) logger.warn("plan run settled by the sweeper", { planId: plan.id, run: plan.run, ...failure });
  return settled.done ? "settled" : undefined;
}
