import type { Context } from "../context.js";
import { priceOf, taskUsage } from "../cost.js";
import * as Events from "../events.js";
import { linkOf, type PayloadRef } from "../payloads.js";
import type { ListTasksQuery, Page, RetryPolicy, Task, TaskEvent, TaskStatus } from "../schemas.js";
import {
  batchGet,
  batchPut,
  getItem,
  IS_NEW,
  putItem,
  statusOf as readStatus,
  statusesOf,
  withoutNulls,
} from "./items.js";
import { queryShardedPage } from "./query.js";
import { keys, partitions, SHARDS, type TaskIndexName, taskIndexKeys } from "./table.js";
import { allOf, type ItemUpdate, sendUpdate, updateAndRead, updateItem } from "./update.js";

/**
 * Storage of tasks: one item per task, its event trail on the item (a status change and its event are one
 * atomic write), and four index entries on it (all tasks, by agent, by status, by agent and status); the
 * status-dependent ones move with every transition.
 */

/** Fields kept on the task item that the API does not show. */
interface TaskItemExtras {
  retry: RetryPolicy;
  /** A plan step's task token: the task's outcome is reported through it, then it is removed. */
  taskToken?: string;
  timeoutSeconds: number;
  leaseUntil?: string;
  /** A remote claim's lease: the SHA-256 (hex) of the token the claimant holds (see remote.ts). */
  leaseToken?: string;
  availableAt: string;
  /** How many tasks the request that submitted this one carried (`POST /v1/tasks/batch`); absent for one. */
  submittedWith?: number;
  /** Params or result kept in object storage (payloads.ts); the API shows their links instead. */
  paramsRef?: PayloadRef;
  resultRef?: PayloadRef;
}
export type TaskRecord = Omit<Task, "paramsRef" | "resultRef"> & TaskItemExtras;

const HIDDEN = [
  "PK",
  "SK",
  "retry",
  "timeoutSeconds",
  "leaseUntil",
  "leaseToken",
  "availableAt",
  "taskToken",
  "submittedWith",
];
const INDEX_FIELDS = Object.keys(keys.taskIndexes("", "", ""));

/**
 * Params and results are stored as JSON text, not as DynamoDB maps: any JSON a client or an action produces
 * (numbers beyond DynamoDB's range or precision, deep nesting, keys such as `__proto__`) is kept exactly.
 */
export const storedJson = (value: unknown): string => JSON.stringify(value ?? null);

export function fromItem(item: Record<string, unknown>): TaskRecord {
  const record = { ...item };
  for (const field of INDEX_FIELDS) delete record[field];
  for (const field of ["startedAt", "finishedAt", "error", "idempotencyKey", "planId", "stepId", "redriveOf"])
    record[field] ??= null;
  if (typeof item.params === "string") record.params = JSON.parse(item.params);
  if (typeof item.result === "string") record.result = JSON.parse(item.result);
  return record as unknown as TaskRecord;
}

export function toPublic(record: TaskRecord): Task {
  const task: Record<string, unknown> = { ...record };
  for (const field of HIDDEN) delete task[field];
  if (record.paramsRef) task.paramsRef = linkOf(record.id, "params", record.paramsRef);
  if (record.resultRef) task.resultRef = linkOf(record.id, "result", record.resultRef);
  task.cost = costOf(record);
  return task as Task;
}

/**
 * The stored item's size, estimated cheaply enough for every task a response shows: the record as JSON, whose quotes,
 * braces and commas (which DynamoDB does not count) about make up for the item's keys and index keys (about 250
 * bytes, which the record lacks), plus a margin. A finished echo task: 765 estimated, 732 as DynamoDB counts it.
 */
const itemBytesOf = (record: TaskRecord) => Buffer.byteLength(JSON.stringify(record), "utf8") + 50;

/** What the task has used so far, estimated from what its record shows (cost.ts). */
export function usageOf(record: TaskRecord) {
  return taskUsage({
    ...record,
    itemBytes: itemBytesOf(record),
    // A remote claim leaves the hash of its lease token on the task; a consumer's claim removes it.
    remote: record.leaseToken !== undefined,
  });
}

/** The task's cost so far, estimated (cost.ts). */
export const costOf = (record: TaskRecord) => priceOf(usageOf(record));

/** The item of a task, with its index entries for its status. */
export function toItem(record: TaskRecord): Record<string, unknown> {
  return {
    ...keys.task(record.id),
    ...keys.taskIndexes(record.id, record.agentId, record.status),
    ...withoutNulls(record),
    params: storedJson(record.params),
  };
}

export async function find(ctx: Context, id: string): Promise<TaskRecord | undefined> {
  const item = await getItem(ctx, keys.task(id), { consistent: true });
  return item ? fromItem(item) : undefined;
}

/** The tasks of the given ids that exist (BatchGet, 100 at a time). */
export async function findMany(ctx: Context, ids: string[]): Promise<Map<string, TaskRecord>> {
  const found = new Map<string, TaskRecord>();
  for (const item of await batchGet(ctx, ids.map(keys.task), { consistent: true })) {
    const record = fromItem(item);
    found.set(record.id, record);
  }
  return found;
}

/** The status of each task that exists, by id. */
export const statuses = (ctx: Context, ids: string[]) => statusesOf(ctx, ids.map(keys.task));

/** The status of a task as it is now. */
export const statusOf = (ctx: Context, id: string) => readStatus(ctx, keys.task(id));

/** What the change feed says of a task's events. */
function feedEvents(task: Pick<Task, "id" | "agentId"> & { action?: string }, events: TaskEvent[]): Events.NewEvent[] {
  return events.map((event) => ({
    kind: "task",
    type: event.type,
    taskId: task.id,
    agentId: task.agentId,
    action: task.action,
    attempt: event.attempt,
    message: event.error ? `${event.error.code}: ${event.error.message}`.slice(0, 300) : event.message?.slice(0, 300),
  }));
}

/** Writes a new task; false when a task with its id exists. */
export async function create(ctx: Context, record: TaskRecord): Promise<boolean> {
  const created = await putItem(ctx, toItem(record), IS_NEW);
  if (created) await Events.publish(ctx, feedEvents(record, record.events));
  return created;
}

/**
 * Writes new tasks, other new items (their request's audit record) and the tasks' events in the change feed with
 * BatchWriteItem (25 items a request, one for a task with its audit record), unconditionally: only for ids that are
 * fresh (time plus 80 random bits).
 */
export async function createMany(
  ctx: Context,
  records: TaskRecord[],
  others: Record<string, unknown>[],
): Promise<void> {
  const events = records.flatMap((record) => Events.items(ctx, feedEvents(record, record.events)));
  await batchPut(ctx, [...records.map(toItem), ...others, ...events]);
}

function listPartition(query: { agentId?: string | undefined; status?: TaskStatus | undefined }) {
  const at = (index: TaskIndexName, partition: string) => ({ index, partition });
  if (query.agentId && query.status) {
    return at("TASKS_AGENT_STATUS", partitions.tasksOfAgentIn(query.agentId, query.status));
  }
  if (query.agentId) return at("TASKS_AGENT", partitions.tasksOfAgent(query.agentId));
  if (query.status) return at("TASKS_STATUS", partitions.tasksIn(query.status));
  return at("TASKS_ALL", partitions.tasks);
}

/**
 * A page of tasks newest first, by agent and/or status: every shard of the matching index partition, merged,
 * then the page's items read by key. A task whose status moved since its index entry was read is left out.
 */
export async function list(
  ctx: Context,
  query: Pick<ListTasksQuery, "agentId" | "status" | "cursor"> & { limit: number },
): Promise<Page<TaskRecord>> {
  const keep = (task: TaskRecord) =>
    (query.status === undefined || task.status === query.status) &&
    (query.agentId === undefined || task.agentId === query.agentId);
  return listKept(ctx, query, keep);
}

/**
 * A page of open tasks, queued and running, newest first: one listing of the status index partition they share
 * (table.ts, indexedStatus), where listing each status would read that partition twice. `below`: only tasks whose id
 * is less than this (`idsBefore` in ids.ts: tasks created before a time).
 */
export function listOpen(ctx: Context, query: { limit: number; cursor?: string; below?: string }) {
  return listKept(ctx, { ...query, status: "queued" }, (task) => task.status === "queued" || task.status === "running");
}

async function listKept(
  ctx: Context,
  query: Pick<ListTasksQuery, "agentId" | "status" | "cursor"> & { limit: number; below?: string },
  keep: (task: TaskRecord) => boolean,
): Promise<Page<TaskRecord>> {
  const { index, partition } = listPartition(query);
  const listing = { index, keys: taskIndexKeys(index), partition, shards: SHARDS.tasks, keysOnly: true, map: fromItem };
  let page = await queryShardedPage(ctx, { ...listing, keep }, query);
  // Queued and running tasks share their index partitions (table.ts, indexedStatus): a page that left out the
  // other status's tasks goes on from its cursor, a few times at most, to fill up.
  for (let more = 0; more < MAX_REFILLS && page.items.length < query.limit && page.nextCursor; more++) {
    const next = await queryShardedPage(
      ctx,
      { ...listing, keep },
      { limit: query.limit - page.items.length, cursor: page.nextCursor },
    );
    page = { items: [...page.items, ...next.items], nextCursor: next.nextCursor };
  }
  return page;
}

/** Further pages a listing reads to fill one up with the status asked for. */
const MAX_REFILLS = 3;

/** What {@link newestOfAgent} reads of a task. */
export interface TaskSummary {
  id: string;
  action: string;
  finishedAt?: string;
}

/** The newest `limit` tasks of an agent in one status: ids, actions and finish times only. */
export async function newestOfAgent(
  ctx: Context,
  agentId: string,
  status: TaskStatus,
  limit: number,
): Promise<TaskSummary[]> {
  const page = await list(ctx, { agentId, status, limit });
  return page.items.map(({ id, action, finishedAt }) => ({ id, action, ...(finishedAt ? { finishedAt } : {}) }));
}

/** The status-dependent index keys of a task, set on every transition. */
function statusKeys(record: Pick<Task, "id" | "agentId">, status: TaskStatus) {
  const all = keys.taskIndexes(record.id, record.agentId, status);
  return { TASKS_STATUS_PK: all.TASKS_STATUS_PK, TASKS_AGENT_STATUS_PK: all.TASKS_AGENT_STATUS_PK };
}

export interface Transition {
  task: Pick<Task, "id" | "agentId">;
  to: TaskStatus;
  /** Extra attributes to set. */
  set: Record<string, unknown>;
  /** Extra raw SET clauses, e.g. `#x = if_not_exists(#x, :x)`, using `names`/`values`. */
  setExpressions?: string[];
  remove?: string[];
  events: TaskEvent[];
  /** Condition on the current item, with its own names/values. */
  condition: string;
  names?: Record<string, string>;
  values?: Record<string, unknown>;
  incrementAttempts?: boolean;
}

/**
 * Events kept on a task item before further ones are only counted (`eventsDropped`): the first ones stay, and
 * the events of a transition to a final status are always appended, so the item stays bounded however often a
 * task is requeued or retried, and still records how it ended.
 */
export const MAX_EVENTS = 100;
const FINAL: readonly TaskStatus[] = ["succeeded", "failed", "cancelled"];

/** One conditional single-item write per state change; returns the new record, or undefined if the condition failed. */
export async function transition(ctx: Context, t: Transition): Promise<TaskRecord | undefined> {
  const key = keys.task(t.task.id);
  const record =
    (await updateAndRead(ctx, key, change(ctx, t, "append"), fromItem)) ??
    (FINAL.includes(t.to) ? undefined : await updateAndRead(ctx, key, change(ctx, t, "count"), fromItem));
  if (record) await Events.publish(ctx, feedEvents(record, t.events));
  return record;
}

/** {@link transition} for callers that need only to know whether it happened (nothing is read back). */
export async function transitioned(ctx: Context, t: Transition): Promise<boolean> {
  const key = keys.task(t.task.id);
  const done =
    (await updateItem(ctx, key, change(ctx, t, "append"))) !== undefined ||
    (!FINAL.includes(t.to) && (await updateItem(ctx, key, change(ctx, t, "count"))) !== undefined);
  if (done) await Events.publish(ctx, feedEvents(t.task, t.events));
  return done;
}

/**
 * The write of a transition. `append` adds its events (for a non-final status, only while the item holds fewer
 * than {@link MAX_EVENTS}); `count` is the second try when the item is full: the events are counted, not kept.
 */
function change(ctx: Context, t: Transition, events: "append" | "count"): ItemUpdate {
  const capped = !FINAL.includes(t.to);
  const room = events === "append" ? "size(#events) < :maxEvents" : "size(#events) >= :maxEvents";
  return {
    set: { status: t.to, updatedAt: ctx.now().toISOString(), ...statusKeys(t.task, t.to), ...t.set },
    setExpressions: [
      events === "append"
        ? "#events = list_append(#events, :events)"
        : "#dropped = if_not_exists(#dropped, :zero) + :dropped",
      ...(t.setExpressions ?? []),
      ...(t.incrementAttempts ? ["#attempts = #attempts + :one"] : []),
    ],
    ...(t.remove ? { remove: t.remove } : {}),
    condition: capped ? allOf(t.condition, room) : t.condition,
    names: {
      "#events": "events",
      ...(events === "count" ? { "#dropped": "eventsDropped" } : {}),
      ...(t.incrementAttempts ? { "#attempts": "attempts" } : {}),
      ...t.names,
    },
    values: {
      ...(events === "append" ? { ":events": t.events } : { ":zero": 0, ":dropped": t.events.length }),
      ...(capped ? { ":maxEvents": MAX_EVENTS } : {}),
      ...(t.incrementAttempts ? { ":one": 1 } : {}),
      ...t.values,
    },
  };
}

/** Points a plan step's task at a newer task token (the step was dispatched again); the task must exist. */
export async function setToken(ctx: Context, id: string, taskToken: string): Promise<void> {
  await sendUpdate(ctx, keys.task(id), { set: { taskToken }, condition: "attribute_exists(PK)" });
}

/** Forgets a task token once its outcome is reported, unless a newer token replaced it meanwhile. */
export async function clearToken(ctx: Context, id: string, taskToken: string): Promise<void> {
  await updateItem(ctx, keys.task(id), {
    remove: ["taskToken"],
    condition: "#token = :token",
    names: { "#token": "taskToken" },
    values: { ":token": taskToken },
  });
}
