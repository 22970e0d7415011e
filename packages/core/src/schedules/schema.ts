import * as z from "zod";
import { MAX_PLAN_STEPS, PlannerConstraints, PlanStepInput } from "../plans/schema.js";
import { pure } from "../pure.js";
import { ActionName, AgentId, PageLimit } from "../schemas.js";
import { ExpressionError, isTimeZone, parseRate } from "./expression.js";
import { parseAnyCron } from "./unix.js";

/** A field holding an expression: refused with the parser's message, on that field. */
const expression = (parse: (text: string) => unknown, description: string) =>
  z
    .string()
    .min(1)
    .max(256)
    .superRefine((text, ctx) => {
      try {
        parse(text);
      } catch (error) {
        if (!(error instanceof ExpressionError)) throw error;
        ctx.addIssue({ code: "custom", message: error.message });
      }
    })
    .describe(description);

export const CronExpression = expression(
  parseAnyCron,
  "EventBridge Scheduler's cron(minutes hours day-of-month month day-of-week year), e.g. cron(0 9 ? * MON-FRI *), " +
    "or five-field Unix cron, e.g. 0 9 * * 1-5 or @daily, converted to the EventBridge form that runs at the same times",
);
export const RateExpression = expression(parseRate, "EventBridge Scheduler syntax, e.g. rate(5 minutes)");
export const TimeZone = /* @__PURE__ */ pure(() =>
  z
    .string()
    .min(1)
    .max(64)
    .refine(isTimeZone, "must be an IANA time zone name, e.g. UTC or Europe/Berlin")
    .describe("IANA time zone the cron expression is read in (default UTC)"),
);

export const Overlap = /* @__PURE__ */ pure(() =>
  z
    .enum(["skip", "allow"])
    .describe(
      "skip (default): a run due while the previous run's task or plan is unfinished is skipped; allow: it runs",
    ),
);

export const TaskTarget = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      type: z.literal("task"),
      agentId: AgentId,
      action: ActionName,
      params: z.unknown().optional().describe("The action's params, checked against its schema"),
    })
    .meta({ id: "ScheduleTaskTarget" }),
);

export const PlanTarget = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      type: z.literal("plan"),
      name: z.string().min(1).max(120).optional().describe("Name of each plan run; default: the schedule's name"),
      steps: z.array(PlanStepInput).min(1).max(MAX_PLAN_STEPS).optional(),
      goal: z
        .string()
        .min(1)
        .max(2000)
        .optional()
        .describe("Without steps: the strategy planner writes the steps once, when the target is set"),
      constraints: PlannerConstraints.optional(),
    })
    .refine((t) => t.steps !== undefined || t.goal !== undefined, {
      message: "give steps, or a goal for the planner",
      path: ["steps"],
    })
    .refine((t) => !(t.steps && t.constraints), {
      message: "constraints are for the planner: give them with a goal and no steps",
      path: ["constraints"],
    })
    .meta({ id: "SchedulePlanTarget" }),
);

export const ScheduleTarget = /* @__PURE__ */ pure(() => z.discriminatedUnion("type", [TaskTarget, PlanTarget]));
export type ScheduleTarget = z.output<typeof ScheduleTarget>;

const name = /* @__PURE__ */ pure(() =>
  z
    .string()
    .trim()
    .min(1)
    .max(100)
    // Unicode's control characters (\p{Cc}) spelled as ranges: a pattern without flags, which every JSON Schema
    // (ECMA-262) client can match; the published document refuses patterns with flags or property escapes.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is this pattern's purpose
    .regex(/^[^\x00-\x1f\x7f-\x9f]+$/, "must not contain control characters")
    .describe("Unique (case-insensitive)"),
);

/** When a schedule runs: exactly one of cron and rate, in a time zone. */
const recurrence = {
  cron: CronExpression.optional(),
  rate: RateExpression.optional(),
  timezone: TimeZone.default("UTC"),
};
const exactlyOne = <S extends z.ZodType<{ cron?: string | undefined; rate?: string | undefined }>>(schema: S) =>
  schema.refine((s) => (s.cron === undefined) !== (s.rate === undefined), {
    message: "give exactly one of cron or rate",
    path: ["cron"],
  });

export const CreateScheduleInput = exactlyOne(
  z.strictObject({
    name,
    ...recurrence,
    target: ScheduleTarget,
    enabled: z.boolean().default(true),
    overlap: Overlap.default("skip"),
  }),
).meta({ id: "CreateScheduleInput" });
export type CreateScheduleInput = z.output<typeof CreateScheduleInput>;

export const UpdateScheduleInput = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      name: name.optional(),
      cron: CronExpression.optional().describe("Replaces the rate, if the schedule had one"),
      rate: RateExpression.optional().describe("Replaces the cron expression, if the schedule had one"),
      timezone: TimeZone.optional(),
      target: ScheduleTarget.optional(),
      enabled: z.boolean().optional(),
      overlap: Overlap.optional(),
    })
    .refine((s) => !(s.cron !== undefined && s.rate !== undefined), {
      message: "give cron or rate, not both",
      path: ["cron"],
    })
    .refine((s) => Object.values(s).some((v) => v !== undefined), {
      message: "nothing to change: give at least one field",
      path: [],
    })
    .meta({ id: "UpdateScheduleInput" }),
);
export type UpdateScheduleInput = z.output<typeof UpdateScheduleInput>;

export const PreviewScheduleInput = exactlyOne(
  z.strictObject({
    ...recurrence,
    count: z.number().int().min(1).max(20).default(5).describe("How many runs to show (1-20, default 5)"),
  }),
).meta({ id: "PreviewScheduleInput" });
export type PreviewScheduleInput = z.output<typeof PreviewScheduleInput>;

export const SchedulePreview = /* @__PURE__ */ pure(() =>
  z
    .object({
      cron: z.string().optional().describe("The cron expression as it would be stored (EventBridge Scheduler syntax)"),
      unixCron: z.string().optional().describe("The Unix cron expression given, when cron was converted from one"),
      rate: z.string().optional().describe("The rate expression as it would be stored"),
      timezone: z.string(),
      nextRuns: z
        .array(z.string())
        .describe("The next runs after now (ISO 8601, UTC); a rate runs every interval from when it is set"),
    })
    .meta({ id: "SchedulePreview" }),
);
export type SchedulePreview = z.output<typeof SchedulePreview>;

export const RunOutcome = /* @__PURE__ */ pure(() =>
  z
    .enum(["started", "skipped", "failed", "missed"])
    .describe(
      "started: its task or plan was submitted; skipped: the previous run was unfinished (overlap skip); failed: " +
        "the task or plan could not be submitted (error); missed: the runtime was not running at the time",
    ),
);
export type RunOutcome = z.output<typeof RunOutcome>;

export const RunError = /* @__PURE__ */ pure(() =>
  z.object({ code: z.string(), message: z.string() }).meta({ id: "ScheduleRunError" }),
);
export type RunError = z.output<typeof RunError>;

export const LastRun = /* @__PURE__ */ pure(() =>
  z
    .object({
      at: z.string().describe("When it was recorded"),
      scheduledAt: z.string().describe("The scheduled time it was for (for missed runs: the first one missed)"),
      trigger: z.enum(["schedule", "manual", "missed"]),
      outcome: RunOutcome,
      taskId: z.string().nullable(),
      planId: z.string().nullable(),
      status: z.string().nullable().optional().describe("The task's or plan's status now (on reads)"),
      error: z.union([RunError, z.null()]),
      missed: z.number().int().nullable().describe("For missed: how many scheduled times passed (capped at 10000)"),
    })
    .meta({ id: "ScheduleLastRun" }),
);
export type LastRun = z.output<typeof LastRun>;

export const Schedule = /* @__PURE__ */ pure(() =>
  z
    .object({
      id: z.string(),
      name: z.string(),
      cron: z.string().nullable().describe("The cron expression as EventBridge Scheduler runs it: cron(<six fields>)"),
      unixCron: z
        .string()
        .nullable()
        .describe("The five-field Unix cron expression (or macro) cron was converted from, as given; null otherwise"),
      rate: z.string().nullable(),
      timezone: z.string(),
      target: ScheduleTarget.describe("The task or plan each run submits (a goal's steps as the planner wrote them)"),
      enabled: z.boolean(),
      overlap: Overlap,
      nextRunAt: z.string().nullable().describe("The next scheduled time; null while disabled or when none is left"),
      nextRuns: z
        .array(z.string())
        .describe("The next 5 scheduled times (ISO 8601, UTC), starting with nextRunAt; empty while disabled"),
      lastRun: z.union([LastRun, z.null()]),
      runs: z.number().int().describe("Runs recorded: started, skipped or failed"),
      missedRuns: z.number().int().describe("Scheduled times that passed while Nexus was not running"),
      createdAt: z.string(),
      updatedAt: z.string(),
      createdBy: z.string(),
    })
    .meta({ id: "Schedule" }),
);
export type Schedule = z.output<typeof Schedule>;

export const ScheduleRun = /* @__PURE__ */ pure(() =>
  LastRun.extend({ scheduleId: z.string() }).meta({ id: "ScheduleRun" }),
);
export type ScheduleRun = z.output<typeof ScheduleRun>;

export const ScheduleDetail = /* @__PURE__ */ pure(() =>
  Schedule.extend({
    recentRuns: z.array(ScheduleRun).describe("The latest runs, newest first (at most 20)"),
  }).meta({ id: "ScheduleDetail" }),
);

export const ListSchedulesQuery = /* @__PURE__ */ pure(() =>
  z.strictObject({
    limit: PageLimit,
    cursor: z.string().max(2048).optional(),
  }),
);
export type ListSchedulesQuery = z.output<typeof ListSchedulesQuery>;

/** What EventBridge Scheduler sends the schedule function (`<aws.scheduler.scheduled-time>` filled in). */
export const FireEvent = /* @__PURE__ */ pure(() =>
  z.object({
    scheduleId: z.string().min(1).max(64),
    scheduledAt: z.iso.datetime({ offset: true }),
  }),
);
