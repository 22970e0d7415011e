import { BatchGetCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { Context } from "../context.js";
import type { Page, TaskError } from "../schemas.js";
import { queryPage } from "../storage/query.js";
import { keys } from "../storage/table.js";
import { updateItem } from "../storage/update.js";
import * as Tasks from "../tasks.js";
import type { ListPlansQuery, Plan, PlanEvent, PlanStatus, PlanStep, StepStatus } from "./schema.js";

/**
 * Storage of plans: one item for the plan and one per step, under the plan's partition, so a plan with all
 * its steps is one Query and every step changes with a single-item conditional write (parallel steps never
 * contend). Tokens of waiting states are kept on the step items and never shown.
 *
 * | item        | PK            | SK            | GSI1 (all plans)     | GSI3 (plans by status)        |
 * |-------------|---------------|---------------|----------------------|-------------------------------|
 * | plan        | PLAN#<id>     | PLAN          | PLANS / <id>         | PLANS#S#<status> / <id>       |
 * | step        | PLAN#<id>     | STEP#<stepId> |                      |                               |
 */
export const planKeys = {
  plan: (id: string) => ({ PK: `PLAN#${id}`, SK: "PLAN" }),
  step: (planId: string, stepId: string) => ({ PK: `PLAN#${planId}`, SK: `STEP#${stepId}` }),
  indexes: (id: string, status: PlanStatus) => ({
    GSI1PK: "PLANS",
    GSI1SK: id,
    GSI3PK: `PLANS#S#${status}`,
    GSI3SK: id,
  }),
};

export interface PlanRecord extends Omit<Plan, "steps" | "events"> {
  events: PlanEvent[];
}

export interface StepRecord extends Omit<PlanStep, "result" | "attempts"> {
  index: number;
  run: number;
  events: PlanEvent[];
  readyToken?: string;
  approvalToken?: string;
  heartbeatSeconds: number;
}

const PLAN_NULLABLE = ["goal", "executionArn", "error", "createdBy", "planner", "startedAt", "finishedAt"] as const;
const STEP_NULLABLE = [
  "agentId",
  "action",
  "message",
  "approvers",
  "seconds",
  "retry",
  "taskId",
  "startedAt",
  "finishedAt",
  "error",
  "decidedBy",
] as const;

function planFromItem(item: Record<string, unknown>): PlanRecord {
  const plan: Record<string, unknown> = {};
  for (const field of ["id", "name", "status", "run", "createdAt", "updatedAt", "events", ...PLAN_NULLABLE] as const) {
    plan[field] = item[field] ?? null;
  }
  if (typeof item.planner === "string") plan.planner = JSON.parse(item.planner);
  plan.events ??= [];
  return plan as unknown as PlanRecord;
}

function stepFromItem(item: Record<string, unknown>): StepRecord {
  const step: Record<string, unknown> = { ...item };
  for (const field of ["PK", "SK"]) delete step[field];
  for (const field of STEP_NULLABLE) step[field] ??= null;
  step.params = typeof item.params === "string" ? JSON.parse(item.params) : undefined;
  step.events ??= [];
  return step as unknown as StepRecord;
}

/** The fields a client sees of a step (tokens and bookkeeping left out). */
export function publicStep(step: StepRecord, task?: Tasks.TaskRecord): PlanStep {
  const { index: _i, run: _r, events: _e, readyToken: _t, approvalToken: _a, heartbeatSeconds: _h, ...rest } = step;
  return {
    ...rest,
    ...(step.kind === "agent" ? {} : { params: undefined }),
    attempts: task?.attempts ?? 0,
    ...(task && task.status === "succeeded" ? { result: task.result ?? null } : {}),
  };
}

export function publicPlan(plan: PlanRecord, steps: StepRecord[], tasks: Map<string, Tasks.TaskRecord>): Plan {
  const events = [...plan.events, ...steps.flatMap((s) => s.events)].sort((a, b) =>
    a.at < b.at ? -1 : a.at > b.at ? 1 : 0,
  );
  const ordered = [...steps].sort((a, b) => a.index - b.index);
  return {
    ...plan,
    steps: ordered.map((step) => publicStep(step, step.taskId ? tasks.get(step.taskId) : undefined)),
    events,
  };
}

/** Writes a new plan and its steps (BatchWrite, 25 items at a time). */
export async function create(ctx: Context, plan: PlanRecord, steps: StepRecord[]): Promise<void> {
  const items: Record<string, unknown>[] = [
    {
      ...planKeys.plan(plan.id),
      ...planKeys.indexes(plan.id, plan.status),
      ...withoutNulls(plan),
      planner: plan.planner ? JSON.stringify(plan.planner) : undefined,
    },
    ...steps.map((step) => ({
      ...planKeys.step(plan.id, step.id),
      ...withoutNulls(step),
      params: step.params === undefined ? undefined : Tasks.storedJson(step.params),
    })),
  ];
  await Tasks.batchPut(ctx, items);
}

function withoutNulls(record: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== null && value !== undefined));
}

/** A plan and its steps (one strongly consistent Query), or undefined. */
export async function load(ctx: Context, id: string): Promise<{ plan: PlanRecord; steps: StepRecord[] } | undefined> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await ctx.ddb.send(
      new QueryCommand({
        TableName: ctx.tableName,
        KeyConditionExpression: "PK = :pk",
        ExpressionAttributeValues: { ":pk": `PLAN#${id}` },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  const planItem = items.find((item) => item.SK === "PLAN");
  if (!planItem) return undefined;
  const steps = items.filter((item) => String(item.SK).startsWith("STEP#")).map(stepFromItem);
  return { plan: planFromItem(planItem), steps: steps.sort((a, b) => a.index - b.index) };
}

/** The tasks of the given ids (BatchGet, 100 at a time). */
export async function tasksOf(ctx: Context, ids: string[]): Promise<Map<string, Tasks.TaskRecord>> {
  const found = new Map<string, Tasks.TaskRecord>();
  for (let i = 0; i < ids.length; i += 100) {
    let requested: Record<string, unknown>[] = ids.slice(i, i + 100).map((id) => keys.task(id));
    for (let attempt = 0; requested.length > 0 && attempt < 5; attempt++) {
      const out = await ctx.ddb.send(
        new BatchGetCommand({ RequestItems: { [ctx.tableName]: { Keys: requested, ConsistentRead: true } } }),
      );
      for (const item of out.Responses?.[ctx.tableName] ?? []) {
        const record = Tasks.fromItem(item);
        found.set(record.id, record);
      }
      requested = (out.UnprocessedKeys?.[ctx.tableName]?.Keys ?? []) as Record<string, unknown>[];
    }
  }
  return found;
}

export function list(ctx: Context, query: ListPlansQuery): Promise<Page<PlanRecord>> {
  const byStatus = query.status !== undefined;
  return queryPage(
    ctx,
    {
      index: byStatus ? "GSI3" : "GSI1",
      partition: byStatus ? `PLANS#S#${query.status}` : "PLANS",
      newestFirst: true,
      map: planFromItem,
    },
    query,
  );
}

interface Change {
  set?: Record<string, unknown>;
  remove?: string[];
  event?: PlanEvent;
  condition: string;
  names?: Record<string, string>;
  values?: Record<string, unknown>;
}

/** One conditional UpdateItem; false when the condition did not hold. */
async function update(ctx: Context, key: Record<string, string>, change: Change): Promise<boolean> {
  const { event, ...rest } = change;
  const appended = event
    ? {
        setExpressions: ["#events = list_append(if_not_exists(#events, :none), :event)"],
        names: { ...rest.names, "#events": "events" },
        values: { ...rest.values, ":event": [event], ":none": [] },
      }
    : {};
  return (await updateItem(ctx, key, { ...rest, ...appended })) !== undefined;
}

const statusIn = (statuses: readonly string[], prefix: string) => {
  const values = Object.fromEntries(statuses.map((s, i) => [`:${prefix}${i}`, s]));
  return { clause: `#st IN (${Object.keys(values).join(", ")})`, values };
};

/** Moves a plan from one of `from` to `to` (optionally only for run `run`), with an event. */
export async function setPlanStatus(
  ctx: Context,
  id: string,
  change: {
    from: readonly PlanStatus[];
    to: PlanStatus;
    run?: number;
    set?: Record<string, unknown>;
    remove?: string[];
    event?: Omit<PlanEvent, "at">;
  },
): Promise<boolean> {
  const at = ctx.now().toISOString();
  const from = statusIn(change.from, "f");
  const runClause = change.run === undefined ? "" : " AND #run = :run";
  return update(ctx, planKeys.plan(id), {
    set: { status: change.to, updatedAt: at, GSI3PK: `PLANS#S#${change.to}`, ...change.set },
    ...(change.remove ? { remove: change.remove } : {}),
    ...(change.event ? { event: { at, ...change.event } } : {}),
    condition: `${from.clause}${runClause}`,
    names: { "#st": "status", ...(change.run === undefined ? {} : { "#run": "run" }) },
    values: { ...from.values, ...(change.run === undefined ? {} : { ":run": change.run }) },
  });
}

/** Changes a step of run `run` whose status is one of `from`; false when it was not. */
export async function setStep(
  ctx: Context,
  planId: string,
  stepId: string,
  change: {
    run: number;
    from: readonly StepStatus[];
    to?: StepStatus;
    set?: Record<string, unknown>;
    remove?: string[];
    event?: Omit<PlanEvent, "at" | "stepId">;
    /** Extra condition clause with its own names/values. */
    also?: { clause: string; names?: Record<string, string>; values?: Record<string, unknown> };
  },
): Promise<boolean> {
  const at = ctx.now().toISOString();
  const from = statusIn(change.from, "f");
  return update(ctx, planKeys.step(planId, stepId), {
    set: { ...(change.to ? { status: change.to } : {}), ...change.set },
    ...(change.remove ? { remove: change.remove } : {}),
    ...(change.event ? { event: { at, stepId, ...change.event } } : {}),
    condition: `${from.clause} AND #run = :run${change.also ? ` AND ${change.also.clause}` : ""}`,
    names: { "#st": "status", "#run": "run", ...change.also?.names },
    values: { ...from.values, ":run": change.run, ...change.also?.values },
  });
}

export type { TaskError };

/** Sets plain fields of a plan (no status change). */
export async function setPlanFields(ctx: Context, id: string, set: Record<string, unknown>): Promise<void> {
  await update(ctx, planKeys.plan(id), { set, condition: "attribute_exists(PK)" });
}
