import type { Context } from "../context.js";
import * as Events from "../events.js";
import type { ListPlansQuery, Plan, PlanEvent, PlanStatus, PlanStep, StepStatus } from "../plans/schema.js";
import type { Page, TaskError } from "../schemas.js";
import { batchPut, getItem, statusOf as readStatus, statusesOf, withoutNulls } from "./items.js";
import { queryAll, queryShardedPage } from "./query.js";
import { gsiKeys, keys, partitions, SHARDS } from "./table.js";
import { storedJson } from "./tasks.js";
import { updateItem } from "./update.js";

/**
 * Storage of plans: one item for the plan and one per step, under the plan's partition, so a plan with all
 * its steps is one Query and every step changes with a single-item conditional write (parallel steps never
 * contend). Tokens of waiting states are kept on the step items and never shown.
 */

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

/** Writes a new plan and its steps (BatchWrite, 25 items at a time). */
export async function create(ctx: Context, plan: PlanRecord, steps: StepRecord[]): Promise<void> {
  const items: Record<string, unknown>[] = [
    {
      ...keys.plan(plan.id),
      ...keys.planIndexes(plan.id, plan.status),
      ...withoutNulls(plan),
      planner: plan.planner ? JSON.stringify(plan.planner) : undefined,
    },
    ...steps.map((step) => ({
      ...keys.planStep(plan.id, step.id),
      ...withoutNulls(step),
      params: step.params === undefined ? undefined : storedJson(step.params),
    })),
  ];
  const created = { kind: "plan" as const, type: "created", planId: plan.id, message: plan.name ?? undefined };
  await batchPut(ctx, [...items, ...Events.items(ctx, [created])]);
}

/** A plan and its steps (one strongly consistent Query), or undefined. */
export async function load(ctx: Context, id: string): Promise<{ plan: PlanRecord; steps: StepRecord[] } | undefined> {
  const items = await queryAll(ctx, {
    KeyConditionExpression: "PK = :pk",
    ExpressionAttributeValues: { ":pk": keys.plan(id).PK },
    ConsistentRead: true,
  });
  const planItem = items.find((item) => item.SK === "PLAN");
  if (!planItem) return undefined;
  const steps = items.filter((item) => String(item.SK).startsWith("STEP#")).map(stepFromItem);
  return { plan: planFromItem(planItem), steps: steps.sort((a, b) => a.index - b.index) };
}

/** The status of each plan that exists, by id. */
export const statuses = (ctx: Context, ids: string[]) => statusesOf(ctx, ids.map(keys.plan));

/** The status of a plan as it is now. */
export const statusOf = (ctx: Context, id: string) => readStatus(ctx, keys.plan(id));

/** The run a step belongs to now (a strongly consistent read of that attribute). */
export async function stepRun(ctx: Context, planId: string, stepId: string): Promise<{ run: number } | undefined> {
  const item = await getItem(ctx, keys.planStep(planId, stepId), { consistent: true, attributes: ["run"] });
  return item ? { run: Number(item.run) } : undefined;
}

export function list(ctx: Context, query: ListPlansQuery): Promise<Page<PlanRecord>> {
  const [index, partition] =
    query.status === undefined
      ? (["GSI1", partitions.plans] as const)
      : (["GSI3", partitions.plansIn(query.status)] as const);
  const listing = { index, keys: gsiKeys(index), partition, shards: SHARDS.plans, map: planFromItem };
  return queryShardedPage(ctx, listing, query);
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
  const changed = (await updateItem(ctx, key, { ...rest, ...appended })) !== undefined;
  if (changed && event) {
    await Events.publish(ctx, [
      {
        kind: "plan",
        type: event.type,
        planId: key.PK?.slice("PLAN#".length),
        stepId: event.stepId,
        message: event.message?.slice(0, 300),
      },
    ]);
  }
  return changed;
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
  return update(ctx, keys.plan(id), {
    set: { status: change.to, updatedAt: at, GSI3PK: keys.planIndexes(id, change.to).GSI3PK, ...change.set },
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
  return update(ctx, keys.planStep(planId, stepId), {
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
  await update(ctx, keys.plan(id), { set, condition: "attribute_exists(PK)" });
}
