import * as Agents from "../agents.js";
import type { Context } from "../context.js";
import { addUsage, planUsage, priceOf } from "../cost.js";
import { ConflictError, NexusError, NotFoundError, ValidationError } from "../errors.js";
import { newId } from "../ids.js";
import { ForbiddenError } from "../keys.js";
import { metrics } from "../metrics.js";
import { linkOf } from "../payloads.js";
import type { Page } from "../schemas.js";
import * as Store from "../storage/plans.js";
import type { TaskRecord } from "../storage/tasks.js";
import * as TaskStore from "../storage/tasks.js";
import type { PlanDraft, Planner } from "./planner.js";
import { stopSteps } from "./runner.js";
import {
  CreatePlanInput,
  DEFAULT_APPROVAL_SECONDS,
  type ListPlansQuery,
  MAX_STEP_SECONDS,
  OPEN_PLAN_STATUSES,
  type Plan,
  type PlannerConstraints,
  type PlanPreview,
  type PlanStep,
  type PlanStepSpec,
  type PlanSummary,
} from "./schema.js";
import { validateSteps } from "./validate.js";

/** Slack for queueing and cold starts on top of an agent step's attempts. */
const STEP_SLACK_SECONDS = 300;
/** Between two attempts of a step's task: the sweeper may need this long to notice a dead worker. */
const HEARTBEAT_SLACK_SECONDS = 900;

export interface CreateOptions {
  /** The key creating the plan. */
  createdBy?: string;
  /** Writes steps for a goal; without one, plans must come with steps. */
  planner?: Planner;
}

export type Created = { dryRun: true; preview: PlanPreview } | { dryRun: false; plan: Plan };

/**
 * A validated draft for a goal: the registry read now (active agents), the planner's steps, then the same
 * validation as for submitted steps. Steps that fail it are the planner's fault: a 422
 * `planner_output_invalid` listing the problems.
 */
export async function draft(
  ctx: Context,
  planner: Planner | undefined,
  input: { goal: string; constraints?: PlannerConstraints | undefined },
): Promise<{ name: string; steps: PlanStepSpec[]; planner: PlanDraft["planner"] }> {
  if (!planner) throw new NexusError("cannot_plan", 422, "no planner is configured; give the plan's steps");
  const agents = (await Agents.all(ctx)).filter((agent) => agent.status === "active");
  const drafted = await planner.plan({ goal: input.goal, constraints: input.constraints, agents });
  try {
    return { steps: await validateSteps(ctx, drafted.steps), name: drafted.name, planner: drafted.planner };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new NexusError(
      "planner_output_invalid",
      422,
      `the ${drafted.planner.name} planner wrote an invalid plan: ${error.message}`,
      { details: error.details },
    );
  }
}

/** Step timeouts: given, or derived from the action (every attempt, its backoff, and slack). */
async function timing(ctx: Context, step: PlanStepSpec): Promise<{ timeoutSeconds: number; heartbeatSeconds: number }> {
  if (step.kind === "wait") return { timeoutSeconds: step.seconds + 60, heartbeatSeconds: step.seconds + 59 };
  if (step.kind === "approval") {
    const timeoutSeconds = step.timeoutSeconds ?? DEFAULT_APPROVAL_SECONDS;
    return { timeoutSeconds, heartbeatSeconds: timeoutSeconds - 1 };
  }
  const agent = await Agents.getRecent(ctx, step.agentId);
  const action = agent.actions.find((a) => a.name === step.action);
  const retry = { ...action?.retry, ...step.retry };
  const attemptSeconds = action?.timeoutSeconds ?? 60;
  const backoff = retry.maxBackoffSeconds ?? 300;
  const derived = (retry.maxAttempts ?? 3) * (attemptSeconds + backoff) + STEP_SLACK_SECONDS;
  const timeoutSeconds = step.timeoutSeconds ?? Math.min(MAX_STEP_SECONDS, derived);
  return {
    timeoutSeconds,
    heartbeatSeconds: Math.max(1, Math.min(attemptSeconds + backoff + HEARTBEAT_SLACK_SECONDS, timeoutSeconds - 1)),
  };
}

async function stepRecords(ctx: Context, steps: PlanStepSpec[], run: number): Promise<Store.StepRecord[]> {
  const records: Store.StepRecord[] = [];
  for (const [index, step] of steps.entries()) {
    const agent = step.kind === undefined || step.kind === "agent";
    records.push({
      id: step.id,
      index,
      kind: step.kind ?? "agent",
      agentId: agent ? step.agentId : null,
      action: agent ? step.action : null,
      ...(agent ? { params: step.params ?? {} } : {}),
      dependsOn: step.dependsOn,
      message: step.kind === "approval" ? step.message : null,
      approvers: step.kind === "approval" ? (step.approvers ?? null) : null,
      seconds: step.kind === "wait" ? step.seconds : null,
      retry: agent ? (step.retry ?? null) : null,
      ...(await timing(ctx, step)),
      status: "pending",
      run,
      taskId: null,
      startedAt: null,
      finishedAt: null,
      error: null,
      decidedBy: null,
      events: [],
    });
  }
  return records;
}

/** The fields a client sees of a step (tokens and bookkeeping left out). */
function publicStep(step: Store.StepRecord, task?: TaskRecord): PlanStep {
  const { index: _i, run: _r, events: _e, readyToken: _t, approvalToken: _a, heartbeatSeconds: _h, ...rest } = step;
  return {
    ...rest,
    ...(step.kind === "agent" ? {} : { params: undefined }),
    attempts: task?.attempts ?? 0,
    ...(task && task.status === "succeeded"
      ? task.resultRef
        ? { resultRef: linkOf(task.id, "result", task.resultRef) }
        : { result: task.result ?? null }
      : {}),
  };
}

function publicPlan(plan: Store.PlanRecord, steps: Store.StepRecord[], tasks: Map<string, TaskRecord>): Plan {
  const events = [...plan.events, ...steps.flatMap((s) => s.events)].sort((a, b) =>
    a.at < b.at ? -1 : a.at > b.at ? 1 : 0,
  );
  const ordered = [...steps].sort((a, b) => a.index - b.index);
  return {
    ...plan,
    steps: ordered.map((step) => publicStep(step, step.taskId ? tasks.get(step.taskId) : undefined)),
    events,
    cost: planCost(plan, steps, tasks),
  };
}

/** The plan's cost so far, its tasks' included, estimated (cost.ts). */
function planCost(plan: Store.PlanRecord, steps: Store.StepRecord[], tasks: Map<string, TaskRecord>) {
  const started = steps.filter((s) => Boolean(s.startedAt ?? s.taskId)).length;
  return priceOf(
    addUsage(
      planUsage({ createdBy: plan.createdBy, startedSteps: started }),
      ...[...tasks.values()].map(TaskStore.usageOf),
    ),
  );
}

export const executionName = (planId: string, run: number) => `${planId}-r${run}`;

/** Starts run `run` of a plan; a plan whose execution cannot start ends `failed` (retry it later). */
export async function startRun(ctx: Context, planId: string, run: number) {
  if (!ctx.workflows) throw new Error("plans are not configured here (no state machine)");
  try {
    const executionArn = await ctx.workflows.start(executionName(planId, run), { planId, run });
    await Store.setPlanFields(ctx, planId, { executionArn });
  } catch (error) {
    const message = `the plan's execution could not start: ${(error as Error).message}`.slice(0, 1000);
    const failed = await Store.setPlanStatus(ctx, planId, {
      from: OPEN_PLAN_STATUSES,
      to: "failed",
      run,
      set: {
        finishedAt: ctx.now().toISOString(),
        error: { code: "execution_start_failed", message, retriable: true, stepId: null },
      },
      event: { type: "failed", message },
    });
    if (failed) metrics().count("PlanRunsFailed");
  }
}

/**
 * Creates a plan from steps (or from a goal, through the planner), validated before anything runs, and
 * starts its execution. `dryRun` returns the validated plan without storing or running it.
 */
export async function create(ctx: Context, raw: unknown, options: CreateOptions = {}): Promise<Created> {
  const parsed = CreatePlanInput.safeParse(raw);
  if (!parsed.success) {
    throw new ValidationError(
      "plan is not valid",
      parsed.error.issues.map((i) => ({ path: i.path.map(String).join(".") || "(body)", message: i.message })),
    );
  }
  const input = parsed.data;
  if (input.steps && input.constraints) {
    throw new ValidationError("constraints are for the planner: give them with a goal and no steps", {
      field: "constraints",
    });
  }
  const made = input.steps
    ? { steps: await validateSteps(ctx, input.steps), name: undefined, planner: null }
    : await draft(ctx, options.planner, { goal: input.goal ?? "", constraints: input.constraints });
  const name = input.name ?? made.name ?? input.goal?.slice(0, 120) ?? "plan";
  const steps = await stepRecords(ctx, made.steps, 1);
  if (input.dryRun) {
    return {
      dryRun: true,
      preview: {
        dryRun: true,
        name,
        goal: input.goal ?? null,
        planner: made.planner,
        steps: steps.map((s) => publicStep(s)),
      },
    };
  }
  const at = ctx.now().toISOString();
  const id = newId("pln", ctx.now());
  const plan: Store.PlanRecord = {
    id,
    name,
    goal: input.goal ?? null,
    status: "pending",
    run: 1,
    executionArn: null,
    error: null,
    createdBy: options.createdBy ?? null,
    planner: made.planner,
    createdAt: at,
    updatedAt: at,
    startedAt: null,
    finishedAt: null,
    events: [{ at, type: "created", ...(options.createdBy ? { by: options.createdBy } : {}) }],
  };
  await Store.create(ctx, plan, steps);
  await startRun(ctx, id, 1);
  return { dryRun: false, plan: await get(ctx, id) };
}

async function loadOr404(ctx: Context, id: string) {
  const loaded = await Store.load(ctx, id);
  if (!loaded) throw new NotFoundError("plan", id);
  return loaded;
}

/** A plan with its steps (status, attempts, results) and its timeline. */
export async function get(ctx: Context, id: string): Promise<Plan> {
  const { plan, steps } = await loadOr404(ctx, id);
  const taskIds = steps.flatMap((s) => (s.taskId ? [s.taskId] : []));
  return publicPlan(plan, steps, await TaskStore.findMany(ctx, taskIds));
}

export async function list(ctx: Context, query: ListPlansQuery): Promise<Page<PlanSummary>> {
  const page = await Store.list(ctx, query);
  return { items: page.items.map(({ events: _events, ...plan }) => plan), nextCursor: page.nextCursor };
}

/** Cancels a plan: its execution stops, open steps end `cancelled`, their tasks are cancelled. */
export async function cancel(ctx: Context, id: string, by: string): Promise<Plan> {
  const { plan } = await loadOr404(ctx, id);
  const cancelled = await Store.setPlanStatus(ctx, id, {
    from: OPEN_PLAN_STATUSES,
    to: "cancelled",
    run: plan.run,
    set: { finishedAt: ctx.now().toISOString() },
    event: { type: "cancelled", by },
  });
  if (!cancelled) {
    const current = await get(ctx, id);
    throw new ConflictError("plan_finished", `plan '${id}' is already ${current.status}`, { status: current.status });
  }
  if (plan.executionArn) await ctx.workflows?.stop(plan.executionArn, "Cancelled", `cancelled by ${by}`);
  await stopSteps(ctx, id, plan.run, `plan cancelled by ${by}`);
  return get(ctx, id);
}

/** Approves or rejects an open approval gate; only its approvers (when it names them) may decide. */
export async function decide(
  ctx: Context,
  id: string,
  stepId: string,
  decision: { approve: boolean; by: string; comment?: string | undefined },
): Promise<Plan> {
  const { plan, steps } = await loadOr404(ctx, id);
  const step = steps.find((s) => s.id === stepId);
  if (!step) throw new NotFoundError("step", `${id}/${stepId}`);
  if (step.kind !== "approval") {
    throw new ConflictError("not_an_approval", `step '${stepId}' is a ${step.kind} step, not an approval gate`);
  }
  if (step.approvers && !step.approvers.includes(decision.by)) {
    throw new ForbiddenError(`only the keys named in step '${stepId}' may decide it`);
  }
  const token = step.approvalToken;
  const decided =
    step.status === "waiting_approval" &&
    token !== undefined &&
    (await Store.setStep(ctx, id, stepId, {
      run: plan.run,
      from: ["waiting_approval"],
      set: { decidedBy: decision.by },
      remove: ["approvalToken"],
      event: {
        type: decision.approve ? "approved" : "rejected",
        by: decision.by,
        ...(decision.comment ? { message: decision.comment } : {}),
      },
      also: { clause: "#token = :token", names: { "#token": "approvalToken" }, values: { ":token": token } },
    }));
  if (!decided || !token) {
    throw new ConflictError(
      "step_not_waiting",
      `step '${stepId}' is not waiting for a decision (it is ${step.status})`,
      {
        status: step.status,
      },
    );
  }
  if (decision.approve) {
    await ctx.workflows?.succeed(token, { approved: true, by: decision.by });
  } else {
    const reason = decision.comment ? `rejected by ${decision.by}: ${decision.comment}` : `rejected by ${decision.by}`;
    await ctx.workflows?.fail(token, "approval_rejected", reason);
  }
  return get(ctx, id);
}

/** Runs a failed or cancelled plan again from the steps that did not succeed (their results are kept). */
export async function retry(ctx: Context, id: string, by: string): Promise<Plan> {
  const { plan, steps } = await loadOr404(ctx, id);
  const run = plan.run + 1;
  const reopened =
    (plan.status === "failed" || plan.status === "cancelled") &&
    (await Store.setPlanStatus(ctx, id, {
      from: ["failed", "cancelled"],
      to: "pending",
      run: plan.run,
      set: { run },
      remove: ["error", "finishedAt"],
      event: { type: "retried", by, message: `run ${run}` },
    }));
  if (!reopened) {
    throw new ConflictError(
      "plan_not_retriable",
      `only a failed or cancelled plan can be retried; it is ${plan.status}`,
      {
        status: plan.status,
      },
    );
  }
  for (const step of steps) {
    const kept = step.status === "succeeded";
    await Store.setStep(ctx, id, step.id, {
      run: plan.run,
      from: [kept ? "succeeded" : step.status],
      ...(kept ? {} : { to: "pending" as const }),
      set: { run },
      remove: kept ? [] : ["taskId", "error", "startedAt", "finishedAt", "decidedBy", "readyToken", "approvalToken"],
      ...(kept ? {} : { event: { type: "step_reset", message: `run ${run}` } }),
    });
  }
  await startRun(ctx, id, run);
  return get(ctx, id);
}
