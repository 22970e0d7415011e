import * as z from "zod";
import { pure } from "../pure.js";
import { ActionName, AgentId, CostEstimate, PageLimit, PayloadLink, RetryPolicy, TaskError } from "../schemas.js";

/**
 * The most steps a plan may have. Every step is one iteration of the state machine's inline Map, which runs
 * at most 40 iterations at once; with steps in dependency order no iteration waits on one that has not
 * started. A plan of this size stays far below Step Functions' 25,000-event history limit (see
 * `historyEventsPerStep`).
 */
export const MAX_PLAN_STEPS = 40;
/** Longest a single step may take (agent step over all its attempts, approval gate, wait). */
export const MAX_STEP_SECONDS = 7 * 24 * 3600;
export const MAX_WAIT_SECONDS = 24 * 3600;
/** Longest a plan run may last (the state machine's own timeout). */
export const MAX_PLAN_SECONDS = 20 * 24 * 3600;
/** An approval gate waits this long unless the step says otherwise. */
export const DEFAULT_APPROVAL_SECONDS = 24 * 3600;

export const StepId = /* @__PURE__ */ pure(() =>
  z
    .string()
    .min(1)
    .max(40)
    .regex(/^[a-z][a-z0-9_-]*$/, "must start with a letter: lower-case letters, digits, _ and -"),
);

const dependsOn = /* @__PURE__ */ pure(() =>
  z.array(StepId).max(MAX_PLAN_STEPS).default([]).describe("Steps that must succeed first"),
);
const timeoutSeconds = /* @__PURE__ */ pure(() =>
  z
    .number()
    .int()
    .min(10)
    .max(MAX_STEP_SECONDS)
    .optional()
    .describe("Longest the step may take, over all its attempts; it then fails with States.Timeout"),
);

export const AgentStepInput = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      id: StepId,
      kind: z.literal("agent").optional().describe("Omitted: an agent step"),
      agentId: AgentId,
      action: ActionName,
      params: z
        .unknown()
        .optional()
        .describe("The action's params; strings may reference ancestors' results: \"{{steps.<id>.result.<path>}}\""),
      dependsOn,
      retry: RetryPolicy.partial().optional().describe("Overrides the action's retry policy for this step"),
      timeoutSeconds,
    })
    .meta({ id: "AgentStepInput" }),
);

export const ApprovalStepInput = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      id: StepId,
      kind: z.literal("approval"),
      message: z.string().min(1).max(2000).describe("What the approver is asked"),
      approvers: z
        .array(z.string().min(1).max(64))
        .min(1)
        .max(20)
        .optional()
        .describe("Ids of the API keys that may decide; omitted: any admin or operator key"),
      dependsOn,
      timeoutSeconds,
    })
    .meta({ id: "ApprovalStepInput" }),
);

export const WaitStepInput = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      id: StepId,
      kind: z.literal("wait"),
      seconds: z.number().int().min(1).max(MAX_WAIT_SECONDS),
      dependsOn,
    })
    .meta({ id: "WaitStepInput" }),
);

export const PlanStepInput = /* @__PURE__ */ pure(() =>
  z.discriminatedUnion("kind", [AgentStepInput, ApprovalStepInput, WaitStepInput]),
);
export type PlanStepInput = z.input<typeof PlanStepInput>;
export type PlanStepSpec = z.output<typeof PlanStepInput>;

export const PlannerConstraints = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      agents: z.array(AgentId).min(1).max(50).optional().describe("Only these agents may be used"),
      requireApproval: z.boolean().optional().describe("Put an approval gate before anything that leaves the system"),
      maxSteps: z.number().int().min(1).max(MAX_PLAN_STEPS).optional(),
    })
    .meta({ id: "PlannerConstraints" }),
);
export type PlannerConstraints = z.output<typeof PlannerConstraints>;

export const CreatePlanInput = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      name: z.string().min(1).max(120).optional().describe("Defaults to the goal, or 'plan'"),
      goal: z.string().min(1).max(2000).optional().describe("Without steps: the strategy planner writes them"),
      constraints: PlannerConstraints.optional().describe("For a goal: limits on the plan the planner writes"),
      steps: z
        .array(PlanStepInput)
        .min(1)
        .max(MAX_PLAN_STEPS, `a plan has at most ${MAX_PLAN_STEPS} steps`)
        .optional()
        .describe(`The steps (at most ${MAX_PLAN_STEPS}); each starts once every step it depends on has succeeded`),
      dryRun: z.boolean().default(false).describe("Validate (and plan) only; nothing is stored or run"),
    })
    .refine((input) => input.steps !== undefined || input.goal !== undefined, {
      message: "give steps, or a goal for the planner",
      path: ["steps"],
    })
    .meta({ id: "CreatePlanInput" }),
);
export type CreatePlanInput = z.output<typeof CreatePlanInput>;

export const PlanStatus = /* @__PURE__ */ pure(() =>
  z.enum(["pending", "running", "waiting_approval", "succeeded", "failed", "cancelled"]),
);
export type PlanStatus = z.output<typeof PlanStatus>;
export const TERMINAL_PLAN_STATUSES: readonly PlanStatus[] = ["succeeded", "failed", "cancelled"];
/** A plan in one of these has a run that may still change it. */
export const OPEN_PLAN_STATUSES: readonly PlanStatus[] = ["pending", "running", "waiting_approval"];

export const StepStatus = /* @__PURE__ */ pure(() =>
  z.enum(["pending", "waiting", "running", "waiting_approval", "succeeded", "failed", "cancelled"]),
);
export type StepStatus = z.output<typeof StepStatus>;

export const PlanEvent = /* @__PURE__ */ pure(() =>
  z
    .object({
      at: z.string(),
      type: z.string(),
      stepId: z.string().optional(),
      message: z.string().optional(),
      by: z.string().optional(),
    })
    .meta({ id: "PlanEvent" }),
);
export type PlanEvent = z.output<typeof PlanEvent>;

export const PlanStep = /* @__PURE__ */ pure(() =>
  z
    .object({
      id: z.string(),
      kind: z.enum(["agent", "approval", "wait"]),
      agentId: z.string().nullable(),
      action: z.string().nullable(),
      params: z.unknown().optional(),
      dependsOn: z.array(z.string()),
      message: z.string().nullable(),
      approvers: z.array(z.string()).nullable(),
      seconds: z.number().nullable(),
      retry: RetryPolicy.partial().nullable(),
      timeoutSeconds: z.number().int(),
      status: StepStatus,
      taskId: z.string().nullable().describe("The task running this step; its result is the step's result"),
      attempts: z.number().int(),
      startedAt: z.string().nullable(),
      finishedAt: z.string().nullable(),
      error: z.union([TaskError, z.null()]).describe("The last error; null while there is none"),
      result: z.unknown().optional().describe("The step's task result (GET of one plan only) when kept on the task"),
      resultRef: PayloadLink.optional().describe("The step's task result when kept in object storage (over 32 KB)"),
      decidedBy: z.string().nullable().describe("Approval steps: the key that approved or rejected"),
    })
    .meta({ id: "PlanStep" }),
);
export type PlanStep = z.output<typeof PlanStep>;

export const Plan = /* @__PURE__ */ pure(() =>
  z
    .object({
      id: z.string(),
      name: z.string(),
      goal: z.string().nullable(),
      status: PlanStatus,
      run: z.number().int().describe("1 for the first execution; +1 per retry"),
      executionArn: z.string().nullable(),
      error: TaskError.extend({ stepId: z.string().nullable() }).nullable(),
      createdBy: z.string().nullable(),
      planner: z
        .object({ name: z.string(), rule: z.string().nullable(), explanation: z.string() })
        .nullable()
        .describe("How the steps were written, for a plan made from a goal"),
      createdAt: z.string(),
      updatedAt: z.string(),
      startedAt: z.string().nullable(),
      finishedAt: z.string().nullable(),
      steps: z.array(PlanStep),
      events: z.array(PlanEvent).describe("The timeline: plan and step transitions, oldest first"),
      cost: CostEstimate.optional().describe(
        "What the plan has cost so far in AWS, its tasks included, estimated (not the actions' own run time)",
      ),
    })
    .meta({ id: "Plan" }),
);
export type Plan = z.output<typeof Plan>;

export const ListPlansQuery = /* @__PURE__ */ pure(() =>
  z.strictObject({
    status: PlanStatus.optional(),
    limit: PageLimit,
    cursor: z.string().max(2048).optional(),
  }),
);
export type ListPlansQuery = z.output<typeof ListPlansQuery>;

export const DecisionInput = /* @__PURE__ */ pure(() =>
  z.strictObject({ comment: z.string().max(2000).optional() }).meta({ id: "ApprovalDecision" }),
);

export const PlanSummary = /* @__PURE__ */ pure(() =>
  Plan.omit({ steps: true, events: true, cost: true }).meta({
    id: "PlanSummary",
  }),
);
export type PlanSummary = z.output<typeof PlanSummary>;

export const PlanPreview = /* @__PURE__ */ pure(() =>
  z
    .object({
      dryRun: z.literal(true),
      name: z.string(),
      goal: z.string().nullable(),
      planner: Plan.shape.planner,
      steps: z.array(PlanStep).describe("The validated steps, in dependency order, with their derived timeouts"),
    })
    .meta({ id: "PlanPreview" }),
);
export type PlanPreview = z.output<typeof PlanPreview>;
