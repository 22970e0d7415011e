import { randomBytes } from "node:crypto";
import type { Context } from "../context.js";
import { NexusError, NotFoundError, ValidationError } from "../errors.js";
import { newId } from "../ids.js";
import type { Planner } from "../plans/planner.js";
import * as Plans from "../plans/plans.js";
import { validateSteps } from "../plans/validate.js";
import type { Page } from "../schemas.js";
import * as PlanStore from "../storage/plans.js";
import * as Store from "../storage/schedules.js";
import * as TaskStore from "../storage/tasks.js";
import * as Targets from "../targets.js";
import * as Tasks from "../tasks.js";
import { nextRun, parseRate, type Recurrence } from "./expression.js";
import {
  CreateScheduleInput,
  type ListSchedulesQuery,
  PreviewScheduleInput,
  type RunError,
  type Schedule,
  type SchedulePreview,
  type ScheduleRun,
  type ScheduleTarget,
  UpdateScheduleInput,
} from "./schema.js";
import type { Trigger } from "./triggers.js";
import { parseAnyCron } from "./unix.js";

export interface Options {
  /** The key making the change. */
  by?: string;
  /** Writes steps for a plan target's goal. */
  planner?: Planner;
}

const issuesOf = (issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>) =>
  issues.map((i) => ({ path: i.path.map(String).join(".") || "(body)", message: i.message }));

const under = (prefix: string, error: ValidationError) =>
  new ValidationError(
    error.message,
    Array.isArray(error.details)
      ? error.details.map((d: { path?: unknown; message?: string }) => ({ ...d, path: `${prefix}.${String(d.path)}` }))
      : error.details,
  );

/**
 * Validates a target as its submission would be: the agent exists and is active, the action exists and the
 * params fit its schema; plan steps as `POST /v1/plans` validates them; a goal is planned now (its steps are
 * kept and run each time). Returns the target to store.
 */
async function checkTarget(ctx: Context, target: ScheduleTarget, planner?: Planner): Promise<ScheduleTarget> {
  if (target.type === "task") {
    const checked = await Targets.checkTarget(ctx, target);
    if (!checked.ok) {
      const issues = checked.issues.map((issue) => ({ ...issue, path: `target.${issue.path}` }));
      const first = issues[0];
      throw new ValidationError(
        first?.code === "invalid_params"
          ? `target params do not match the schema of '${checked.action?.name}'`
          : `target is not valid: ${first?.message}`,
        issues,
      );
    }
    return { type: "task", agentId: checked.agent.id, action: checked.action.name, params: checked.params };
  }
  if (target.steps) {
    try {
      await validateSteps(ctx, target.steps);
    } catch (error) {
      if (error instanceof ValidationError) throw under("target", error);
      throw error;
    }
    return target;
  }
  const drafted = await Plans.draft(ctx, planner, { goal: target.goal ?? "", constraints: target.constraints });
  return { ...target, steps: drafted.steps };
}

const recurrenceOf = (s: { cron: string | null; rate: string | null; timezone: string; anchorAt: string | null }) =>
  ({ cron: s.cron, rate: s.rate, timezone: s.timezone, anchor: s.anchorAt }) satisfies Recurrence;

/** The next run after `after`; a cron expression with none left is refused (it would never run). */
function firstRun(s: Parameters<typeof recurrenceOf>[0], after: Date): string | null {
  const next = nextRun(recurrenceOf(s), after);
  if (!next && s.cron) {
    throw new ValidationError("cron has no run after now", [{ path: "cron", message: "has no run after now" }]);
  }
  return next?.toISOString() ?? null;
}

const unavailable = (error: unknown) =>
  new NexusError("scheduler_unavailable", 502, "the scheduler could not be updated; try again", { cause: error });

const triggerOf = (s: Store.ScheduleRecord): Trigger => {
  const anchor = s.rate && s.anchorAt ? nextRun(recurrenceOf(s), new Date(s.anchorAt)) : null;
  return {
    scheduleId: s.id,
    expression: s.cron ?? s.rate ?? "",
    timezone: s.timezone,
    enabled: s.enabled,
    description: `Nexus schedule '${s.name}'`,
    ...(anchor ? { startAt: anchor } : {}),
  };
};

/** What a schedule stores of its expression: cron (Unix cron converted, and kept as given) or rate. */
function specOf(input: { cron?: string | undefined; rate?: string | undefined; timezone: string }, at: string) {
  const cron = input.cron ? parseAnyCron(input.cron) : null;
  return {
    cron: cron?.expression ?? null,
    unixCron: cron?.unix ?? null,
    rate: input.rate ? parseRate(input.rate).expression : null,
    timezone: input.timezone,
    anchorAt: input.rate ? at : null,
  };
}

/** The runs after `after`, at most `count`, starting with `first` when given (a schedule's stored next run). */
function upcoming(recurrence: Recurrence, after: Date, count: number, first?: Date | null): string[] {
  const runs: string[] = [];
  let at = first === undefined ? nextRun(recurrence, after) : first;
  while (at && runs.length < count) {
    runs.push(at.toISOString());
    at = nextRun(recurrence, at);
  }
  return runs;
}

/**
 * What a cron or rate expression would be stored as, and its next runs from now, without creating anything: bad
 * input is refused as `create` refuses it (a 400 naming the field).
 */
export function preview(ctx: Context, raw: unknown): SchedulePreview {
  const parsed = PreviewScheduleInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError("schedule preview is not valid", issuesOf(parsed.error.issues));
  const input = parsed.data;
  const now = ctx.now();
  const spec = specOf(input, now.toISOString());
  const first = firstRun(spec, now);
  return {
    ...(spec.cron ? { cron: spec.cron } : {}),
    ...(spec.unixCron ? { unixCron: spec.unixCron } : {}),
    ...(spec.rate ? { rate: spec.rate } : {}),
    timezone: spec.timezone,
    nextRuns: upcoming(recurrenceOf(spec), now, input.count, first ? new Date(first) : null),
  };
}

/** Creates a schedule: validated, its name claimed, stored, and (in AWS) an EventBridge Scheduler schedule. */
export async function create(ctx: Context, raw: unknown, options: Options = {}): Promise<Schedule> {
  const parsed = CreateScheduleInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError("schedule is not valid", issuesOf(parsed.error.issues));
  const input = parsed.data;
  const target = await checkTarget(ctx, input.target, options.planner);
  const now = ctx.now();
  const at = now.toISOString();
  const spec = specOf(input, at);
  const next = firstRun(spec, now);
  const id = newId("sch", now);
  await Store.claimName(ctx, input.name, id);
  const record: Store.ScheduleRecord = {
    id,
    name: input.name,
    ...spec,
    target,
    enabled: input.enabled,
    overlap: input.overlap,
    nextRunAt: input.enabled ? next : null,
    lastRun: null,
    runs: 0,
    missedRuns: 0,
    createdAt: at,
    updatedAt: at,
    createdBy: options.by ?? "unknown",
    version: 1,
    activeRun: null,
    deletedAt: null,
  };
  await Store.create(ctx, record);
  try {
    await ctx.schedules?.put(triggerOf(record));
  } catch (error) {
    await Store.markDeleted(ctx, id);
    throw unavailable(error);
  }
  return publicOf(record);
}

async function loadOr404(ctx: Context, id: string): Promise<Store.ScheduleRecord> {
  const record = await Store.load(ctx, id);
  if (!record || record.deletedAt) throw new NotFoundError("schedule", id);
  return record;
}

type Ref = NonNullable<Store.ScheduleRecord["activeRun"]>;

/** The current status of tasks and plans (BatchGet, 100 at a time). */
async function statuses(ctx: Context, refs: Ref[]): Promise<Map<string, string>> {
  const ids = (kind: Ref["kind"]) => [...new Set(refs.filter((r) => r.kind === kind).map((r) => r.id))];
  const [tasks, plans] = await Promise.all([
    TaskStore.statuses(ctx, ids("task")),
    PlanStore.statuses(ctx, ids("plan")),
  ]);
  return new Map([...tasks, ...plans]);
}

const refOf = (run: Store.LastRunRecord | null): Ref | undefined =>
  run?.taskId ? { kind: "task", id: run.taskId } : run?.planId ? { kind: "plan", id: run.planId } : undefined;

/** How many upcoming runs a schedule shows. */
const SHOWN_RUNS = 5;

/** A schedule as the API shows it: its next runs from its stored next run on (none while disabled). */
function publicOf(record: Store.ScheduleRecord): Schedule {
  const first = record.enabled && record.nextRunAt ? new Date(record.nextRunAt) : null;
  const nextRuns = first ? upcoming(recurrenceOf(record), first, SHOWN_RUNS, first) : [];
  return { ...Store.toPublic(record), nextRuns };
}

function withStatus(record: Store.ScheduleRecord, found: Map<string, string>): Schedule {
  const schedule = publicOf(record);
  const ref = refOf(record.lastRun);
  if (!schedule.lastRun || !ref) return schedule;
  return { ...schedule, lastRun: { ...schedule.lastRun, status: found.get(ref.id) ?? null } };
}

/** A schedule with its last run's task or plan status, and its latest runs. */
export async function get(ctx: Context, id: string): Promise<Schedule & { recentRuns: ScheduleRun[] }> {
  const record = await loadOr404(ctx, id);
  const ref = refOf(record.lastRun);
  const found = ref ? await statuses(ctx, [ref]) : new Map<string, string>();
  return { ...withStatus(record, found), recentRuns: await Store.recentRuns(ctx, id) };
}

/** Schedules by name, paged. */
export async function list(ctx: Context, query: ListSchedulesQuery): Promise<Page<Schedule>> {
  const page = await Store.list(ctx, query);
  const found = await statuses(
    ctx,
    page.items.flatMap((s) => refOf(s.lastRun) ?? []),
  );
  return { items: page.items.map((s) => withStatus(s, found)), nextCursor: page.nextCursor };
}

/**
 * Changes a schedule. A new cron, rate, time zone or enabling computes the next run from now (a rate starts
 * anew); a new target is validated as on creation; a new name must be free.
 */
export async function update(ctx: Context, id: string, raw: unknown, options: Options = {}): Promise<Schedule> {
  const parsed = UpdateScheduleInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError("schedule change is not valid", issuesOf(parsed.error.issues));
  const input = parsed.data;
  const current = await loadOr404(ctx, id);
  const now = ctx.now();
  const at = now.toISOString();
  const newCron = input.cron ? parseAnyCron(input.cron) : null;
  const rateChanged =
    (input.rate !== undefined && parseRate(input.rate).expression !== current.rate) ||
    (input.enabled === true && !current.enabled);
  const next: Store.ScheduleRecord = {
    ...current,
    name: input.name ?? current.name,
    ...(input.cron || input.rate ? { cron: newCron?.expression ?? null, unixCron: newCron?.unix ?? null } : {}),
    rate: input.rate ? parseRate(input.rate).expression : input.cron ? null : current.rate,
    timezone: input.timezone ?? current.timezone,
    target: input.target ? await checkTarget(ctx, input.target, options.planner) : current.target,
    enabled: input.enabled ?? current.enabled,
    overlap: input.overlap ?? current.overlap,
    updatedAt: at,
    version: current.version + 1,
  };
  next.anchorAt = next.rate ? (rateChanged || !current.anchorAt ? at : current.anchorAt) : null;
  const upcoming = firstRun(next, now);
  next.nextRunAt = next.enabled ? upcoming : null;
  if (next.name.toLowerCase() !== current.name.toLowerCase()) await Store.claimName(ctx, next.name, id);
  if (!(await Store.updateConfig(ctx, next, current.version))) {
    await loadOr404(ctx, id);
    throw new NexusError("schedule_changed", 409, "the schedule was changed meanwhile; read it and try again");
  }
  try {
    await ctx.schedules?.put(triggerOf(next));
  } catch (error) {
    // Put the record back as it was, so that it says what the scheduler does.
    await Store.updateConfig(ctx, { ...current, version: next.version + 1 }, next.version);
    throw unavailable(error);
  }
  return withStatus(next, new Map());
}

/** Deletes a schedule: its trigger first (nothing fires after this), then the record; its runs stay readable. */
export async function remove(ctx: Context, id: string): Promise<void> {
  await loadOr404(ctx, id);
  try {
    await ctx.schedules?.remove(id);
  } catch (error) {
    throw unavailable(error);
  }
  await Store.markDeleted(ctx, id);
}

// ── Firing ───────────────────────────────────────────────────────────────────────────────────────────

const UNFINISHED = new Set(["queued", "running", "pending", "waiting_approval"]);

async function unfinished(ctx: Context, ref: Ref): Promise<string | undefined> {
  const status = await (ref.kind === "task" ? TaskStore : PlanStore).statusOf(ctx, ref.id);
  return status && UNFINISHED.has(status) ? status : undefined;
}

export interface FireOptions {
  /** The time this run is for; with the schedule's id, what makes a run idempotent. */
  scheduledAt: Date;
  /** `manual`: a run-now (always a new run; the schedule's next run is left as it is). */
  trigger?: "schedule" | "manual";
}

export interface Fired {
  /** recorded: this call ran it; duplicate: another delivery of the same time did (or is doing) it. */
  status: "recorded" | "duplicate" | "ignored";
  /** Why nothing happened (ignored). */
  reason?: "not_found" | "disabled";
  run?: ScheduleRun;
}

/** Submits the schedule's target: a task (idempotently, keyed by the run) or a plan. */
async function start(
  ctx: Context,
  schedule: Store.ScheduleRecord,
  runKey: string,
): Promise<Pick<Store.Outcome, "taskId" | "planId">> {
  const target = schedule.target;
  if (target.type === "task") {
    const { task } = await Tasks.submit(ctx, {
      agentId: target.agentId,
      action: target.action,
      params: target.params ?? {},
      idempotencyKey: `schedule:${schedule.id}:${runKey}`,
    });
    return { taskId: task.id, planId: null };
  }
  const created = await Plans.create(
    ctx,
    {
      name: target.name ?? schedule.name.slice(0, 120),
      ...(target.goal ? { goal: target.goal } : {}),
      steps: target.steps,
    },
    { createdBy: `schedule:${schedule.id}` },
  );
  if (created.dryRun) throw new Error("unreachable: a scheduled plan is never a dry run");
  return { taskId: null, planId: created.plan.id };
}

/**
 * Fires a schedule for one scheduled time. Idempotent per (schedule, scheduled time): a second delivery of the same
 * time starts nothing and reports the first one's run. Applies the overlap policy (skip: the previous run's task or
 * plan is unfinished → a `skipped` run), submits the task or plan, and records the run, the schedule's last run and
 * its next run. A submission the target refuses (agent gone or inactive, params no longer valid, a daily cap) is a
 * `failed` run; an infrastructure error is thrown, and the run is released for a retry.
 */
export async function fire(ctx: Context, scheduleId: string, options: FireOptions): Promise<Fired> {
  const trigger = options.trigger ?? "schedule";
  const schedule = await Store.load(ctx, scheduleId);
  if (!schedule || schedule.deletedAt) return { status: "ignored", reason: "not_found" };
  if (!schedule.enabled && trigger === "schedule") return { status: "ignored", reason: "disabled" };
  const now = ctx.now();
  const scheduledAt = options.scheduledAt.toISOString();
  const key = trigger === "manual" ? `${now.toISOString()}#manual-${randomBytes(4).toString("hex")}` : scheduledAt;
  if (!(await Store.claimRun(ctx, { scheduleId, key, scheduledAt, trigger }))) {
    const existing = await Store.getRun(ctx, scheduleId, key);
    return { status: "duplicate", ...(existing?.state === "done" ? { run: Store.publicRun(existing) } : {}) };
  }

  let outcome: Store.Outcome = { outcome: "started", taskId: null, planId: null, error: null, missed: null };
  const busy = schedule.overlap === "skip" && schedule.activeRun ? await unfinished(ctx, schedule.activeRun) : null;
  if (busy && schedule.activeRun) {
    const { kind, id } = schedule.activeRun;
    outcome = {
      ...outcome,
      outcome: "skipped",
      error: { code: "previous_run_unfinished", message: `the previous run's ${kind} ${id} is still ${busy}` },
    };
  } else {
    try {
      outcome = { ...outcome, ...(await start(ctx, schedule, key)) };
    } catch (error) {
      if (!(error instanceof NexusError)) {
        await Store.releaseRun(ctx, scheduleId, key).catch(() => undefined);
        throw error;
      }
      const failure: RunError = { code: error.code, message: error.message.slice(0, 1000) };
      outcome = { ...outcome, outcome: "failed", error: failure };
    }
  }
  await Store.finishRun(ctx, scheduleId, key, outcome);
  const lastRun: Store.LastRunRecord = { at: ctx.now().toISOString(), scheduledAt, trigger, ...outcome };
  const started = refOf(lastRun);
  await recordRun(ctx, schedule, {
    set: { lastRun, ...(started ? { activeRun: started } : {}) },
    add: { runs: 1 },
    // A scheduled run moves the schedule on; a rate schedule keeps its rhythm from the time it actually ran.
    ...(trigger === "schedule" ? { after: new Date(Math.max(now.getTime(), options.scheduledAt.getTime())) } : {}),
    ...(trigger === "schedule" && schedule.rate ? { anchorAt: scheduledAt } : {}),
  });
  return { status: "recorded", run: { scheduleId, ...lastRun } };
}

/**
 * Writes a run onto its schedule. With `after`, the next run is computed from there too, but only against the
 * configuration the run was made with (an update meanwhile computed its own); the run itself is always recorded.
 */
async function recordRun(
  ctx: Context,
  schedule: Store.ScheduleRecord,
  change: { set: Record<string, unknown>; add: Record<string, number>; after?: Date; anchorAt?: string },
) {
  if (change.after) {
    const anchorAt = change.anchorAt ?? schedule.anchorAt;
    const next = nextRun(recurrenceOf({ ...schedule, anchorAt }), change.after)?.toISOString() ?? null;
    const moved = await Store.moveOn(ctx, schedule, next, {
      set: { ...change.set, ...(change.anchorAt ? { anchorAt } : {}) },
      add: change.add,
    });
    if (moved) return;
  }
  if (Object.keys(change.set).length + Object.keys(change.add).length === 0) return;
  await Store.update(ctx, schedule.id, { set: change.set, add: change.add });
}

/** Runs a schedule now, whatever its next run; the overlap policy applies as to any run. */
export async function runNow(ctx: Context, id: string): Promise<ScheduleRun> {
  await loadOr404(ctx, id);
  const fired = await fire(ctx, id, { scheduledAt: ctx.now(), trigger: "manual" });
  if (!fired.run) throw new NotFoundError("schedule", id);
  return fired.run;
}

/**
 * Records scheduled times that passed without a run (the local runtime was stopped, or its clock jumped) as one
 * `missed` run, and moves the schedule's next run past `now`. Nothing is started for them.
 */
export async function recordMissed(
  ctx: Context,
  schedule: Store.ScheduleRecord,
  missed: { first: Date; count: number },
): Promise<ScheduleRun | undefined> {
  const now = ctx.now();
  if (missed.count === 0) {
    // Nothing missed: the next run was no time of the expression any more (changed meanwhile); move it on.
    await recordRun(ctx, schedule, { set: {}, add: {}, after: now });
    return undefined;
  }
  const scheduledAt = missed.first.toISOString();
  const lastRun: Store.LastRunRecord = {
    at: now.toISOString(),
    scheduledAt,
    trigger: "missed",
    outcome: "missed",
    taskId: null,
    planId: null,
    error: null,
    missed: missed.count,
  };
  const recorded = await Store.putRun(ctx, {
    scheduleId: schedule.id,
    key: `${scheduledAt}#missed`,
    state: "done",
    claimedAt: lastRun.at,
    ...lastRun,
  });
  await recordRun(ctx, schedule, {
    set: recorded ? { lastRun } : {},
    add: recorded ? { missedRuns: missed.count } : {},
    after: now,
  });
  return { scheduleId: schedule.id, ...lastRun };
}

/** Enabled schedules whose next run is at or before `now`. */
export const due = (ctx: Context, now: Date) => Store.due(ctx, now);

/** The schedule's recurrence, for computing its runs. */
export const recurrence = (schedule: Store.ScheduleRecord): Recurrence => recurrenceOf(schedule);
