import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { Context } from "../context.js";
import { ConflictError, isConditionalCheckFailed } from "../errors.js";
import type { Page } from "../schemas.js";
import { queryPage } from "../storage/query.js";
import { updateItem } from "../storage/update.js";
import type { ListSchedulesQuery, RunError, RunOutcome, Schedule, ScheduleRun, ScheduleTarget } from "./schema.js";

/**
 * Storage of schedules: one item per schedule, its runs under the same partition (a run item is also the
 * idempotency record of one scheduled time), and a guard item per name. Every write is a single-item
 * (conditional) write.
 *
 * | item     | PK                   | SK                         | GSI1 (by name)             | GSI3 (due, enabled only)     |
 * |----------|----------------------|----------------------------|----------------------------|------------------------------|
 * | schedule | SCHEDULE#<id>        | SCHEDULE                   | SCHEDULES / <name>#<id>    | SCHEDULES#DUE / <next>#<id>  |
 * | run      | SCHEDULE#<id>        | RUN#<scheduledAt>[#<kind>] |                            |                              |
 * | name     | SCHEDULENAME#<name>  | SCHEDULENAME               |                            |                              |
 *
 * Deleting a schedule marks it deleted (its runs stay readable until DynamoDB's TTL removes them).
 */
export const scheduleKeys = {
  schedule: (id: string) => ({ PK: `SCHEDULE#${id}`, SK: "SCHEDULE" }),
  run: (id: string, key: string) => ({ PK: `SCHEDULE#${id}`, SK: `RUN#${key}` }),
  name: (name: string) => ({ PK: `SCHEDULENAME#${name.toLowerCase()}`, SK: "SCHEDULENAME" }),
  list: (name: string, id: string) => ({ GSI1PK: "SCHEDULES", GSI1SK: `${name.toLowerCase()}#${id}` }),
  due: (nextRunAt: string, id: string) => ({ GSI3PK: DUE_PARTITION, GSI3SK: `${nextRunAt}#${id}` }),
};
const DUE_PARTITION = "SCHEDULES#DUE";
/** Run records and deleted schedules are removed by DynamoDB's TTL after this long (AWS only). */
const RETENTION_SECONDS = 90 * 24 * 3600;
export const expiresAt = (now: Date) => Math.floor(now.getTime() / 1000) + RETENTION_SECONDS;

export type LastRunRecord = Omit<ScheduleRun, "scheduleId" | "status">;

export interface ScheduleRecord extends Omit<Schedule, "lastRun"> {
  lastRun: LastRunRecord | null;
  /** Bumped by every configuration change; a run computes the next one only against the version it read. */
  version: number;
  /** Rate schedules run every interval from here. */
  anchorAt: string | null;
  /** The task or plan the latest started run submitted: what the overlap policy looks at. */
  activeRun: { kind: "task" | "plan"; id: string } | null;
  deletedAt: string | null;
}

const NULLABLE = ["cron", "rate", "nextRunAt", "lastRun", "anchorAt", "activeRun", "deletedAt"] as const;
const INDEX_FIELDS = ["PK", "SK", "GSI1PK", "GSI1SK", "GSI3PK", "GSI3SK", "expiresAt"];

export function fromItem(item: Record<string, unknown>): ScheduleRecord {
  const record: Record<string, unknown> = { ...item };
  for (const field of INDEX_FIELDS) delete record[field];
  for (const field of NULLABLE) record[field] ??= null;
  record.target = typeof item.target === "string" ? JSON.parse(item.target) : item.target;
  record.runs ??= 0;
  record.missedRuns ??= 0;
  return record as unknown as ScheduleRecord;
}

export function toPublic(record: ScheduleRecord): Schedule {
  const { version: _v, anchorAt: _a, activeRun: _r, deletedAt: _d, ...rest } = record;
  return rest;
}

function toItem(record: ScheduleRecord): Record<string, unknown> {
  const item: Record<string, unknown> = {
    ...scheduleKeys.schedule(record.id),
    ...scheduleKeys.list(record.name, record.id),
    ...(record.enabled && record.nextRunAt ? scheduleKeys.due(record.nextRunAt, record.id) : {}),
    ...record,
    target: JSON.stringify(record.target),
  };
  return Object.fromEntries(Object.entries(item).filter(([, v]) => v !== null && v !== undefined));
}

export async function load(ctx: Context, id: string): Promise<ScheduleRecord | undefined> {
  const out = await ctx.ddb.send(
    new GetCommand({ TableName: ctx.tableName, Key: scheduleKeys.schedule(id), ConsistentRead: true }),
  );
  return out.Item ? fromItem(out.Item) : undefined;
}

export async function create(ctx: Context, record: ScheduleRecord): Promise<void> {
  await ctx.ddb.send(
    new PutCommand({ TableName: ctx.tableName, Item: toItem(record), ConditionExpression: "attribute_not_exists(PK)" }),
  );
}

/** A claim on a name a create may hold this long before it has written its schedule. */
const NAME_CLAIM_MS = 60_000;

const nameTaken = (name: string) =>
  new ConflictError("schedule_name_taken", `a schedule named '${name}' exists`, { field: "name" });

/**
 * Claims a (case-insensitive) name for a schedule. A guard whose schedule is gone, deleted or renamed is stale
 * and taken over; one claimed moments ago by a create still writing its schedule is not.
 */
export async function claimName(ctx: Context, name: string, scheduleId: string): Promise<void> {
  const now = ctx.now();
  const guard = { ...scheduleKeys.name(name), scheduleId, claimedAt: now.toISOString() };
  try {
    await ctx.ddb.send(
      new PutCommand({ TableName: ctx.tableName, Item: guard, ConditionExpression: "attribute_not_exists(PK)" }),
    );
    return;
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
  }
  const out = await ctx.ddb.send(
    new GetCommand({ TableName: ctx.tableName, Key: scheduleKeys.name(name), ConsistentRead: true }),
  );
  const held = out.Item as { scheduleId: string; claimedAt: string } | undefined;
  if (held?.scheduleId === scheduleId) return;
  if (held) {
    const holder = await load(ctx, held.scheduleId);
    const live = holder && !holder.deletedAt && holder.name.toLowerCase() === name.toLowerCase();
    const writing = !holder && now.getTime() - Date.parse(held.claimedAt) < NAME_CLAIM_MS;
    if (live || writing) throw nameTaken(name);
  }
  try {
    await ctx.ddb.send(
      new PutCommand({
        TableName: ctx.tableName,
        Item: guard,
        ConditionExpression: held ? "scheduleId = :stale" : "attribute_not_exists(PK)",
        ...(held ? { ExpressionAttributeValues: { ":stale": held.scheduleId } } : {}),
      }),
    );
  } catch (error) {
    if (isConditionalCheckFailed(error)) throw nameTaken(name);
    throw error;
  }
}

export interface Change {
  set?: Record<string, unknown>;
  remove?: string[];
  add?: Record<string, number>;
  /** Extra condition (with `#`-names and `:`-values of its own) besides the schedule existing. */
  condition?: { expression: string; names?: Record<string, string>; values?: Record<string, unknown> };
}

/** One conditional UpdateItem on a schedule; false when the condition failed. */
export async function update(ctx: Context, id: string, change: Change): Promise<boolean> {
  const set = Object.fromEntries(
    Object.entries(change.set ?? {}).map(([name, value]) => [name, name === "target" ? JSON.stringify(value) : value]),
  );
  const updated = await updateItem(ctx, scheduleKeys.schedule(id), {
    set,
    ...(change.add ? { add: change.add } : {}),
    ...(change.remove ? { remove: change.remove } : {}),
    condition: ["attribute_exists(PK)", change.condition?.expression].filter(Boolean).join(" AND "),
    ...(change.condition?.names ? { names: change.condition.names } : {}),
    ...(change.condition?.values ? { values: change.condition.values } : {}),
  });
  return updated !== undefined;
}

/** The set/remove parts that place a schedule in the due index (enabled with a next run) or take it out. */
export function dueIndex(id: string, enabled: boolean, nextRunAt: string | null): Change {
  if (enabled && nextRunAt) return { set: { nextRunAt, ...scheduleKeys.due(nextRunAt, id) } };
  return { set: { nextRunAt }, remove: ["GSI3PK", "GSI3SK"] };
}

export function list(ctx: Context, query: ListSchedulesQuery): Promise<Page<ScheduleRecord>> {
  return queryPage(ctx, { index: "GSI1", partition: "SCHEDULES", newestFirst: false, map: fromItem }, query);
}

/** Enabled schedules whose next run is at or before `now`, earliest first (every page). */
export async function due(ctx: Context, now: Date): Promise<ScheduleRecord[]> {
  const found: ScheduleRecord[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await ctx.ddb.send(
      new QueryCommand({
        TableName: ctx.tableName,
        IndexName: "GSI3",
        KeyConditionExpression: "GSI3PK = :pk AND GSI3SK <= :until",
        ExpressionAttributeValues: { ":pk": DUE_PARTITION, ":until": `${now.toISOString()}#~` },
        ExclusiveStartKey: start,
      }),
    );
    found.push(...(out.Items ?? []).map(fromItem));
    start = out.LastEvaluatedKey;
  } while (start);
  return found;
}

// ── Runs ─────────────────────────────────────────────────────────────────────────────────────────────

export interface RunRecord extends ScheduleRun {
  key: string;
  state: "claimed" | "released" | "done";
  claimedAt: string;
}

/** A claim older than this whose holder never finished (it crashed) is taken over by the next delivery. */
const CLAIM_STALE_MS = 5 * 60_000;

/**
 * Claims the run of one scheduled time: true for the first claim (or a takeover of a released or abandoned one),
 * false when another delivery holds or has done it.
 */
export async function claimRun(
  ctx: Context,
  run: Pick<RunRecord, "scheduleId" | "key" | "scheduledAt" | "trigger">,
): Promise<boolean> {
  const now = ctx.now();
  try {
    await ctx.ddb.send(
      new PutCommand({
        TableName: ctx.tableName,
        Item: {
          ...scheduleKeys.run(run.scheduleId, run.key),
          ...run,
          state: "claimed",
          claimedAt: now.toISOString(),
          expiresAt: expiresAt(now),
        },
        ConditionExpression:
          "attribute_not_exists(PK) OR #state = :released OR (#state = :claimed AND claimedAt < :stale)",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: {
          ":released": "released",
          ":claimed": "claimed",
          ":stale": new Date(now.getTime() - CLAIM_STALE_MS).toISOString(),
        },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionalCheckFailed(error)) return false;
    throw error;
  }
}

export async function getRun(ctx: Context, scheduleId: string, key: string): Promise<RunRecord | undefined> {
  const out = await ctx.ddb.send(
    new GetCommand({ TableName: ctx.tableName, Key: scheduleKeys.run(scheduleId, key), ConsistentRead: true }),
  );
  return out.Item ? runFromItem(out.Item) : undefined;
}

/** Gives a claimed run back (its start failed for a reason a retry may not meet). */
export async function releaseRun(ctx: Context, scheduleId: string, key: string): Promise<void> {
  await ctx.ddb.send(
    new UpdateCommand({
      TableName: ctx.tableName,
      Key: scheduleKeys.run(scheduleId, key),
      UpdateExpression: "SET #state = :released",
      ConditionExpression: "#state = :claimed",
      ExpressionAttributeNames: { "#state": "state" },
      ExpressionAttributeValues: { ":released": "released", ":claimed": "claimed" },
    }),
  );
}

export interface Outcome {
  outcome: RunOutcome;
  taskId: string | null;
  planId: string | null;
  error: RunError | null;
  missed: number | null;
}

/** Records what a claimed run did. */
export async function finishRun(ctx: Context, scheduleId: string, key: string, outcome: Outcome): Promise<void> {
  await ctx.ddb.send(
    new UpdateCommand({
      TableName: ctx.tableName,
      Key: scheduleKeys.run(scheduleId, key),
      UpdateExpression:
        "SET #state = :done, #at = :at, outcome = :outcome, taskId = :taskId, planId = :planId, #error = :error, missed = :missed",
      ExpressionAttributeNames: { "#state": "state", "#at": "at", "#error": "error" },
      ExpressionAttributeValues: {
        ":done": "done",
        ":at": ctx.now().toISOString(),
        ":outcome": outcome.outcome,
        ":taskId": outcome.taskId,
        ":planId": outcome.planId,
        ":error": outcome.error,
        ":missed": outcome.missed,
      },
    }),
  );
}

/** Records a run that never claimed anything (missed times): written once per key. */
export async function putRun(ctx: Context, run: RunRecord): Promise<boolean> {
  try {
    await ctx.ddb.send(
      new PutCommand({
        TableName: ctx.tableName,
        Item: { ...scheduleKeys.run(run.scheduleId, run.key), ...run, expiresAt: expiresAt(ctx.now()) },
        ConditionExpression: "attribute_not_exists(PK)",
      }),
    );
    return true;
  } catch (error) {
    if (isConditionalCheckFailed(error)) return false;
    throw error;
  }
}

function runFromItem(item: Record<string, unknown>): RunRecord {
  const run: Record<string, unknown> = { ...item };
  for (const field of ["PK", "SK", "expiresAt"]) delete run[field];
  for (const field of ["taskId", "planId", "error", "missed", "outcome", "at"]) run[field] ??= null;
  return run as unknown as RunRecord;
}

export const publicRun = (run: RunRecord): ScheduleRun => ({
  scheduleId: run.scheduleId,
  at: run.at ?? run.claimedAt,
  scheduledAt: run.scheduledAt,
  trigger: run.trigger,
  outcome: run.outcome,
  taskId: run.taskId,
  planId: run.planId,
  error: run.error,
  missed: run.missed,
});

/** The latest finished runs of a schedule, newest first. */
export async function recentRuns(ctx: Context, scheduleId: string, limit = 20): Promise<ScheduleRun[]> {
  const out = await ctx.ddb.send(
    new QueryCommand({
      TableName: ctx.tableName,
      KeyConditionExpression: "PK = :pk AND begins_with(SK, :run)",
      FilterExpression: "#state = :done",
      ExpressionAttributeNames: { "#state": "state" },
      ExpressionAttributeValues: { ":pk": `SCHEDULE#${scheduleId}`, ":run": "RUN#", ":done": "done" },
      ScanIndexForward: false,
      Limit: limit * 2,
    }),
  );
  return (out.Items ?? []).map(runFromItem).slice(0, limit).map(publicRun);
}

export type { ScheduleTarget };
