import * as z from "zod";
import type { Context } from "../context.js";
import { NexusError } from "../errors.js";
import { type Logger, withLogContext } from "../log.js";
import { metrics } from "../metrics.js";
import * as Payloads from "../payloads.js";
import { pure } from "../pure.js";
import type { TaskError } from "../schemas.js";
import * as Store from "../storage/plans.js";
import * as TaskStore from "../storage/tasks.js";
import * as Tasks from "../tasks.js";
import { reportToPlan } from "./report.js";
import { MAX_PLAN_SECONDS, OPEN_PLAN_STATUSES } from "./schema.js";
import { ACTIVE, release, succeedStep } from "./steps.js";
import { resolve, scan, UnresolvedReference } from "./templates.js";

/**
 * The plan state machine's Lambda tasks. Each op is idempotent (Step Functions and Lambda may run one twice):
 * every change is a conditional write on the plan's current run, and token calls for a finished wait are
 * ignored.
 */
const Base = /* @__PURE__ */ pure(() => z.object({ planId: z.string().min(1), run: z.number().int().min(1) }));
const StepOp = /* @__PURE__ */ pure(() => Base.extend({ stepId: z.string().min(1) }));
const Payload = /* @__PURE__ */ pure(() =>
  z.discriminatedUnion("op", [
    Base.extend({ op: z.literal("start") }),
    StepOp.extend({ op: z.literal("ready"), token: z.string().min(1) }),
    StepOp.extend({ op: z.literal("dispatch"), token: z.string().min(1) }),
    StepOp.extend({ op: z.literal("approval"), token: z.string().min(1) }),
    StepOp.extend({ op: z.literal("stepSucceeded") }),
    StepOp.extend({
      op: z.literal("stepFailed"),
      error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
    }),
    Base.extend({
      op: z.literal("finish"),
      outcome: z.enum(["succeeded", "failed"]),
      failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
    }),
  ]),
);
type Payload = z.output<typeof Payload>;

/** What a Map iteration of the state machine gets for one step (its `Payload`). */
export interface StepPayload {
  planId: string;
  run: number;
  stepId: string;
  kind: "agent" | "approval" | "wait";
  /** Whether some dependency has not succeeded yet (the iteration waits for it). */
  waits: boolean;
  timeoutSeconds: number;
  heartbeatSeconds: number;
  dependencyTimeoutSeconds: number;
  seconds: number;
}

export async function handle(ctx: Context, raw: unknown, logger: Logger): Promise<unknown> {
  const payload = Payload.parse(raw);
  // Every record of this operation (and of the tasks it submits) carries the plan's id, run and step.
  const keys = {
    planId: payload.planId,
    planRun: payload.run,
    ...("stepId" in payload ? { stepId: payload.stepId } : {}),
  };
  return withLogContext(keys, () => runOp(ctx, payload, logger));
}

async function runOp(ctx: Context, payload: Payload, child: Logger): Promise<unknown> {
  switch (payload.op) {
    case "start":
      return { steps: await start(ctx, payload) };
    case "ready":
      return ready(ctx, payload);
    case "dispatch":
      return dispatch(ctx, payload, child);
    case "approval":
      return awaitApproval(ctx, payload);
    case "stepSucceeded":
      return stepSucceeded(ctx, payload);
    case "stepFailed":
      return stepFailed(ctx, payload, child);
    case "finish":
      return finish(ctx, payload, child);
  }
}

type Op<K extends Payload["op"]> = Extract<Payload, { op: K }>;

async function loadRun(ctx: Context, planId: string, run: number) {
  const loaded = await Store.load(ctx, planId);
  if (!loaded || loaded.plan.run !== run) return undefined; // a stale execution: do nothing
  return loaded;
}

/** pending → running; returns the steps still to run (a retry keeps succeeded ones). */
async function start(ctx: Context, p: Op<"start">): Promise<StepPayload[]> {
  const loaded = await loadRun(ctx, p.planId, p.run);
  if (!loaded) return [];
  const { plan, steps } = loaded;
  if (plan.status === "pending") {
    await Store.setPlanStatus(ctx, plan.id, {
      from: ["pending"],
      to: "running",
      run: p.run,
      set: { startedAt: ctx.now().toISOString() },
      event: { type: p.run === 1 ? "started" : "restarted", message: `run ${p.run}` },
    });
  } else if (plan.status !== "running" && plan.status !== "waiting_approval") {
    return []; // cancelled before it started
  }
  const succeeded = new Set(steps.filter((s) => s.status === "succeeded").map((s) => s.id));
  return steps
    .filter((s) => s.status !== "succeeded")
    .map((s) => ({
      planId: plan.id,
      run: p.run,
      stepId: s.id,
      kind: s.kind,
      waits: s.dependsOn.some((d) => !succeeded.has(d)),
      timeoutSeconds: s.timeoutSeconds,
      heartbeatSeconds: s.heartbeatSeconds,
      dependencyTimeoutSeconds: MAX_PLAN_SECONDS,
      seconds: s.seconds ?? 0,
    }));
}

/** A step waits for its dependencies: keep its token; if they are already done, release it now. */
async function ready(ctx: Context, p: Op<"ready">) {
  const stored = await Store.setStep(ctx, p.planId, p.stepId, {
    run: p.run,
    from: ["pending", "waiting"],
    to: "waiting",
    set: { readyToken: p.token },
  });
  if (!stored) return { released: false };
  const loaded = await loadRun(ctx, p.planId, p.run);
  if (loaded) await release(ctx, loaded.steps);
  return { released: true };
}

/** Resolves the step's references from its ancestors' results. */
async function resolvedParams(ctx: Context, step: Store.StepRecord, steps: Store.StepRecord[]) {
  const { references } = scan(step.params);
  const ids = [...new Set(references.map((r) => r.stepId))];
  const taskIds = ids.map((id) => steps.find((s) => s.id === id)?.taskId).filter((t): t is string => Boolean(t));
  const tasks = await TaskStore.findMany(ctx, taskIds);
  const results = new Map<string, unknown>();
  for (const id of ids) {
    const taskId = steps.find((s) => s.id === id)?.taskId;
    const task = taskId ? tasks.get(taskId) : undefined;
    // A result kept in object storage is loaded (and its hash checked) before its paths are read.
    if (task?.status === "succeeded") results.set(id, (await Payloads.resultOf(ctx, task)) ?? null);
  }
  return resolve(step.params ?? {}, results);
}

/** Runs an agent step: an ordinary task on the agent's queue, carrying the token its outcome is reported to. */
async function dispatch(ctx: Context, p: Op<"dispatch">, logger: Logger) {
  const loaded = await loadRun(ctx, p.planId, p.run);
  const step = loaded?.steps.find((s) => s.id === p.stepId);
  if (step?.status === "succeeded" && step.taskId) {
    // Dispatched before, and its task has already recorded the step's success (a retried invocation): say so again.
    await ctx.workflows?.succeed(p.token, { taskId: step.taskId });
    return { dispatched: true, taskId: step.taskId };
  }
  if (!loaded || !step || !ACTIVE.includes(step.status)) {
    await ctx.workflows?.fail(p.token, "step_not_runnable", `step '${p.stepId}' is not waiting to run`);
    return { dispatched: false };
  }
  const failStep = async (error: TaskError) => {
    logger.warn("step could not be dispatched", { stepId: step.id, code: error.code });
    await ctx.workflows?.fail(p.token, error.code, error.message);
    return { dispatched: false };
  };
  let params: unknown;
  try {
    params = await resolvedParams(ctx, step, loaded.steps);
  } catch (error) {
    if (error instanceof UnresolvedReference) {
      return failStep({ code: "reference_unresolved", message: error.message, retriable: false });
    }
    throw error;
  }
  let submitted: Tasks.Submitted;
  try {
    submitted = await Tasks.submit(
      ctx,
      {
        agentId: step.agentId,
        action: step.action,
        params,
        idempotencyKey: `plan:${p.planId}:${p.run}:${step.id}`,
      },
      { step: { planId: p.planId, stepId: step.id, taskToken: p.token, retry: step.retry } },
    );
  } catch (error) {
    // The registry or a cap refused it (agent gone or inactive, params wrong once resolved…): the step fails.
    if (error instanceof NexusError) return failStep({ code: error.code, message: error.message, retriable: false });
    throw error;
  }
  const { task } = submitted;
  await Store.setStep(ctx, p.planId, step.id, {
    run: p.run,
    from: ["pending", "waiting", "running"],
    to: "running",
    set: { taskId: task.id, startedAt: task.createdAt },
    remove: ["readyToken"],
    event: { type: "step_started", message: `task ${task.id} on ${task.agentId}.${task.action}` },
  });
  if (submitted.replayed) {
    // A second dispatch of the same step (a retried invocation): the task reports to the newest token.
    await Tasks.setToken(ctx, task.id, p.token);
    const record = await Tasks.find(ctx, task.id);
    if (record && record.status !== "queued" && record.status !== "running") {
      await reportToPlan(ctx, { ...record, taskToken: p.token });
    }
  }
  return { dispatched: true, taskId: task.id };
}

/** An approval gate opens: keep its token; the plan shows waiting_approval until someone decides. */
async function awaitApproval(ctx: Context, p: Op<"approval">) {
  const opened = await Store.setStep(ctx, p.planId, p.stepId, {
    run: p.run,
    from: ["pending", "waiting", "waiting_approval"],
    to: "waiting_approval",
    set: { approvalToken: p.token, startedAt: ctx.now().toISOString() },
    remove: ["readyToken"],
    event: { type: "approval_requested" },
  });
  if (opened) {
    await Store.setPlanStatus(ctx, p.planId, { from: ["running"], to: "waiting_approval", run: p.run });
  }
  return { opened };
}

/** After an approval step ends: the plan is running again unless another gate is still open. */
async function closeGate(ctx: Context, planId: string, run: number) {
  const loaded = await loadRun(ctx, planId, run);
  if (loaded && !loaded.steps.some((s) => s.status === "waiting_approval")) {
    await Store.setPlanStatus(ctx, planId, { from: ["waiting_approval"], to: "running", run });
  }
}

/** An approval gate or a wait ended (an agent step's task records its own success: report.ts). */
async function stepSucceeded(ctx: Context, p: Op<"stepSucceeded">) {
  const { done, steps } = await succeedStep(ctx, p);
  if (steps?.find((s) => s.id === p.stepId)?.kind === "approval") await closeGate(ctx, p.planId, p.run);
  return { done };
}

/** The error Step Functions caught, as a task error: from the task when it has one, else from the state. */
async function stepError(ctx: Context, step: Store.StepRecord | undefined, caught: Op<"stepFailed">["error"]) {
  const code = caught?.Error || "step_failed";
  if (code === "States.Timeout" || code === "States.HeartbeatTimeout") {
    const what = code === "States.Timeout" ? `did not finish within ${step?.timeoutSeconds}s` : "stopped reporting";
    return { code: "step_timeout", message: `step '${step?.id}' ${what} (${code})`, retriable: false };
  }
  if (step?.taskId) {
    const task = await Tasks.find(ctx, step.taskId);
    if (task?.status === "failed" && task.error) return task.error;
  }
  return { code, message: caught?.Cause || code, retriable: false };
}

async function stepFailed(ctx: Context, p: Op<"stepFailed">, logger: Logger) {
  const loaded = await loadRun(ctx, p.planId, p.run);
  const step = loaded?.steps.find((s) => s.id === p.stepId);
  const error = await stepError(ctx, step, p.error);
  const failed = await Store.setStep(ctx, p.planId, p.stepId, {
    run: p.run,
    from: ACTIVE,
    to: "failed",
    set: { finishedAt: ctx.now().toISOString(), error },
    remove: ["readyToken", "approvalToken"],
    event: { type: "step_failed", message: `${error.code}: ${error.message}` },
  });
  if (step?.taskId && error.code === "step_timeout") {
    await Tasks.cancel(ctx, step.taskId, "its plan step timed out").catch(() => undefined);
  }
  logger.info("plan step failed", { stepId: p.stepId, code: error.code });
  return { failed };
}

/** Stops what is still in flight of a plan: open steps end `cancelled`, their tasks are cancelled. */
export async function stopSteps(ctx: Context, planId: string, run: number, reason: string) {
  const loaded = await Store.load(ctx, planId);
  for (const step of loaded?.steps ?? []) {
    if (!ACTIVE.includes(step.status)) continue;
    await Store.setStep(ctx, planId, step.id, {
      run,
      from: ACTIVE,
      to: "cancelled",
      set: { finishedAt: ctx.now().toISOString() },
      remove: ["readyToken", "approvalToken"],
      event: { type: "step_cancelled", message: reason },
    });
    if (step.taskId) await Tasks.cancel(ctx, step.taskId, reason).catch(() => undefined);
  }
}

/**
 * Settles a run. Any open status may be settled, `pending` too (a run whose execution ended before its first state
 * ran, settled by the sweeper); the run number keeps an older run from settling a newer one.
 */
async function finish(ctx: Context, p: Op<"finish">, logger: Logger) {
  const at = ctx.now().toISOString();
  if (p.outcome === "succeeded") {
    const done = await Store.setPlanStatus(ctx, p.planId, {
      from: OPEN_PLAN_STATUSES,
      to: "succeeded",
      run: p.run,
      set: { finishedAt: at },
      remove: ["error"],
      event: { type: "succeeded" },
    });
    if (done) metrics().count("PlanRunsSucceeded");
    return { done };
  }
  const loaded = await loadRun(ctx, p.planId, p.run);
  const failedStep = loaded?.steps
    .filter((s) => s.status === "failed" && s.error)
    .sort((a, b) => ((a.finishedAt ?? "") < (b.finishedAt ?? "") ? -1 : 1))[0];
  const error = failedStep?.error
    ? { ...failedStep.error, stepId: failedStep.id }
    : {
        code: p.failure?.Error || "plan_failed",
        message: p.failure?.Cause || "the plan failed",
        retriable: false,
        stepId: null,
      };
  // Steps first, so a plan that shows `failed` has nothing left in flight.
  await stopSteps(ctx, p.planId, p.run, `plan failed at step '${error.stepId ?? "?"}'`);
  const done = await Store.setPlanStatus(ctx, p.planId, {
    from: OPEN_PLAN_STATUSES,
    to: "failed",
    run: p.run,
    set: { finishedAt: at, error },
    event: {
      type: "failed",
      ...(error.stepId ? { stepId: error.stepId } : {}),
      message: `${error.code}: ${error.message}`,
    },
  });
  if (done) metrics().count("PlanRunsFailed");
  logger.info("plan failed", { code: error.code, stepId: error.stepId });
  return { done };
}
