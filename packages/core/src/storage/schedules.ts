import type { Context } from "../context.js";
import { ConflictError } from "../errors.js";
import * as Events from "../events.js";
import type {
  ListSchedulesQuery,
  RunError,
  RunOutcome,
  Schedule,
  ScheduleRun,
  ScheduleTarget,
} from "../schedules/schema.js";
import type { Page } from "../schemas.js";
import { getItem, IS_NEW, putItem, sendPut, withoutNulls } from "./items.js";
import { queryAll, queryItems, queryPage } from "./query.js";
import { keys, partitions } from "./table.js";
import { allOf, sendUpdate, updateItem } from "./update.js";

/**
 * Storage of schedules: one item per schedule, its runs under the same partition (a run item is also the
 * idempotency record of one scheduled time), and a guard item per name. Every write is a single-item
 * (conditional) write; only an enabled schedule with a next run is in the due index.
 *
 * Deleting a schedule marks it deleted (its runs stay readable until DynamoDB's TTL removes them).
 */

/** Run records and deleted schedules are removed by DynamoDB's TTL after this long (AWS only). */
const RETENTION_SECONDS = 90 * 24 * 3600;
const expiresAt = (now: Date) => Math.floor(now.getTime() / 1000) + RETENTION_SECONDS;

export type LastRunRecord = Omit<ScheduleRun, "scheduleId" | "status">;

export interface ScheduleRecord extends Omit<Schedule, "lastRun" | "nextRuns"> {
  lastRun: LastRunRecord | null;
  /** Bumped by every configuration change; a run computes the next one only against the version it read. */
  version: number;
  /** Rate schedules run every interval from here. */
  anchorAt: string | null;
  /** The task or plan the latest started run submitted: what the overlap policy looks at. */
  activeRun: { kind: "task" | "plan"; id: string } | null;
  deletedAt: string | null;
}

const NULLABLE = ["cron", "unixCron", "rate", "nextRunAt", "lastRun", "anchorAt", "activeRun", "deletedAt"] as const;
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

export function toPublic(record: ScheduleRecord): Omit<Schedule, "nextRuns"> {
  const { version: _v, anchorAt: _a, activeRun: _r, deletedAt: _d, ...rest } = record;
  return rest;
}

function toItem(record: ScheduleRecord): Record<string, unknown> {
  return withoutNulls({
    ...keys.schedule(record.id),
    ...keys.scheduleIndexes(record.name, record.id),
    ...(record.enabled && record.nextRunAt ? keys.scheduleDue(record.nextRunAt, record.id) : {}),
    ...record,
    target: JSON.stringify(record.target),
  });
}

export async function load(ctx: Context, id: string): Promise<ScheduleRecord | undefined> {
  const item = await getItem(ctx, keys.schedule(id), { consistent: true });
  return item ? fromItem(item) : undefined;
}

export async function create(ctx: Context, record: ScheduleRecord): Promise<void> {
  await sendPut(ctx, toItem(record), IS_NEW);
  await Events.publish(ctx, [{ kind: "schedule", type: "created", scheduleId: record.id, message: record.name }]);
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
  const guard = { ...keys.scheduleName(name), scheduleId, claimedAt: now.toISOString() };
  if (await putItem(ctx, guard, IS_NEW)) return;
  const held = (await getItem(ctx, keys.scheduleName(name), { consistent: true })) as
    | { scheduleId: string; claimedAt: string }
    | undefined;
  if (held?.scheduleId === scheduleId) return;
  if (held) {
    const holder = await load(ctx, held.scheduleId);
    const live = holder && !holder.deletedAt && holder.name.toLowerCase() === name.toLowerCase();
    const writing = !holder && now.getTime() - Date.parse(held.claimedAt) < NAME_CLAIM_MS;
    if (live || writing) throw nameTaken(name);
  }
  const takeover = held ? { expression: "scheduleId = :stale", values: { ":stale": held.scheduleId } } : IS_NEW;
  if (!(await putItem(ctx, guard, takeover))) throw nameTaken(name);
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
  const updated = await updateItem(ctx, keys.schedule(id), {
    set,
    ...(change.add ? { add: change.add } : {}),
    ...(change.remove ? { remove: change.remove } : {}),
    condition: change.condition ? allOf("attribute_exists(PK)", change.condition.expression) : "attribute_exists(PK)",
    ...(change.condition?.names ? { names: change.condition.names } : {}),
    ...(change.condition?.values ? { values: change.condition.values } : {}),
  });
  return updated !== undefined;
}

/** The set/remove parts that place a schedule in the due index (enabled with a next run) or take it out. */
function dueIndex(id: string, enabled: boolean, nextRunAt: string | null): Change {
  if (enabled && nextRunAt) return { set: { nextRunAt, ...keys.scheduleDue(nextRunAt, id) } };
  return { set: { nextRunAt }, remove: ["GSI3PK", "GSI3SK"] };
}

/** A change that applies only to the configuration version `version` of a schedule that is not deleted. */
const atVersion = (version: number): Change["condition"] => ({
  expression: "#version = :version AND attribute_not_exists(#deleted)",
  names: { "#version": "version", "#deleted": "deletedAt" },
  values: { ":version": version },
});

/**
 * Writes a schedule's configuration (with its name index and its place in the due index) if it is still at
 * configuration version `expectedVersion`; false when it was changed or deleted meanwhile.
 */
export async function updateConfig(ctx: Context, s: ScheduleRecord, expectedVersion: number): Promise<boolean> {
  const due = dueIndex(s.id, s.enabled, s.nextRunAt);
  const config = {
    name: s.name,
    cron: s.cron,
    rate: s.rate,
    timezone: s.timezone,
    target: s.target,
    enabled: s.enabled,
    overlap: s.overlap,
    anchorAt: s.anchorAt,
    updatedAt: s.updatedAt,
    version: s.version,
    ...keys.scheduleIndexes(s.name, s.id),
  };
  const updated = await update(ctx, s.id, {
    set: { ...config, ...due.set },
    remove: due.remove ?? [],
    condition: atVersion(expectedVersion),
  });
  if (updated) {
    const state = s.enabled ? "enabled" : "disabled";
    await Events.publish(ctx, [
      { kind: "schedule", type: "updated", scheduleId: s.id, message: `${s.name} (${state})` },
    ]);
  }
  return updated;
}

/**
 * Records a run on a schedule at configuration version `version` and moves its next run to `nextRunAt`; false when
 * the configuration changed meanwhile (nothing is written then).
 */
export function moveOn(
  ctx: Context,
  schedule: Pick<ScheduleRecord, "id" | "enabled" | "version">,
  nextRunAt: string | null,
  change: Pick<Change, "set" | "add">,
): Promise<boolean> {
  const due = dueIndex(schedule.id, schedule.enabled, nextRunAt);
  return update(ctx, schedule.id, {
    set: { ...change.set, ...due.set },
    remove: due.remove ?? [],
    ...(change.add ? { add: change.add } : {}),
    condition: atVersion(schedule.version),
  });
}

/** Marks a schedule deleted: out of every index, removed by DynamoDB's TTL later. */
export async function markDeleted(ctx: Context, id: string): Promise<void> {
  const now = ctx.now();
  await update(ctx, id, {
    set: { deletedAt: now.toISOString(), enabled: false, nextRunAt: null, expiresAt: expiresAt(now) },
    remove: ["GSI1PK", "GSI1SK", "GSI3PK", "GSI3SK"],
  });
  await Events.publish(ctx, [{ kind: "schedule", type: "deleted", scheduleId: id }]);
}

export function list(ctx: Context, query: ListSchedulesQuery): Promise<Page<ScheduleRecord>> {
  return queryPage(ctx, { index: "GSI1", partition: partitions.schedules, newestFirst: false, map: fromItem }, query);
}

/** Enabled schedules whose next run is at or before `now`, earliest first (every page). */
export async function due(ctx: Context, now: Date): Promise<ScheduleRecord[]> {
  const items = await queryAll(ctx, {
    IndexName: "GSI3",
    KeyConditionExpression: "GSI3PK = :pk AND GSI3SK <= :until",
    ExpressionAttributeValues: { ":pk": partitions.schedulesDue, ":until": `${now.toISOString()}#~` },
  });
  return items.map(fromItem);
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
  const item = {
    ...keys.scheduleRun(run.scheduleId, run.key),
    ...run,
    state: "claimed",
    claimedAt: now.toISOString(),
    expiresAt: expiresAt(now),
  };
  return putItem(ctx, item, {
    expression: "attribute_not_exists(PK) OR #state = :released OR (#state = :claimed AND claimedAt < :stale)",
    names: { "#state": "state" },
    values: {
      ":released": "released",
      ":claimed": "claimed",
      ":stale": new Date(now.getTime() - CLAIM_STALE_MS).toISOString(),
    },
  });
}

export async function getRun(ctx: Context, scheduleId: string, key: string): Promise<RunRecord | undefined> {
  const item = await getItem(ctx, keys.scheduleRun(scheduleId, key), { consistent: true });
  return item ? runFromItem(item) : undefined;
}

/** Gives a claimed run back (its start failed for a reason a retry may not meet). */
export async function releaseRun(ctx: Context, scheduleId: string, key: string): Promise<void> {
  await sendUpdate(ctx, keys.scheduleRun(scheduleId, key), {
    set: { state: "released" },
    condition: "#state = :claimed",
    names: { "#state": "state" },
    values: { ":claimed": "claimed" },
  });
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
  await sendUpdate(ctx, keys.scheduleRun(scheduleId, key), {
    set: {
      state: "done",
      at: ctx.now().toISOString(),
      outcome: outcome.outcome,
      taskId: outcome.taskId,
      planId: outcome.planId,
      error: outcome.error,
      missed: outcome.missed,
    },
  });
  await Events.publish(ctx, [runEvent(scheduleId, outcome)]);
}

/** What the change feed says of a schedule's run. */
const runEvent = (scheduleId: string, outcome: Pick<Outcome, "outcome" | "taskId" | "planId" | "error">) =>
  ({
    kind: "schedule",
    type: `run.${outcome.outcome}`,
    scheduleId,
    taskId: outcome.taskId ?? undefined,
    planId: outcome.planId ?? undefined,
    message: outcome.error ? `${outcome.error.code}: ${outcome.error.message}`.slice(0, 300) : undefined,
  }) satisfies Events.NewEvent;

/** Records a run that never claimed anything (missed times): written once per key. */
export async function putRun(ctx: Context, run: RunRecord): Promise<boolean> {
  const item = { ...keys.scheduleRun(run.scheduleId, run.key), ...run, expiresAt: expiresAt(ctx.now()) };
  const written = await putItem(ctx, item, IS_NEW);
  if (written && run.outcome) await Events.publish(ctx, [runEvent(run.scheduleId, { ...run, outcome: run.outcome })]);
  return written;
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
  const items = await queryItems(ctx, {
    KeyConditionExpression: "PK = :pk AND begins_with(SK, :run)",
    FilterExpression: "#state = :done",
    ExpressionAttributeNames: { "#state": "state" },
    ExpressionAttributeValues: { ":pk": keys.schedule(scheduleId).PK, ":run": "RUN#", ":done": "done" },
    ScanIndexForward: false,
    Limit: limit * 2,
  });
  return items.map(runFromItem).slice(0, limit).map(publicRun);
}

export type { ScheduleTarget };
