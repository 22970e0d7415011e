import type { Context } from "../context.js";
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
import { queryItems, queryPage } from "./query.js";
import { type GsiName, gsiKeys, keys, partitions } from "./table.js";
import { type ItemUpdate, sendUpdate, updateAndRead, updateItem } from "./update.js";

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
}
export type TaskRecord = Task & TaskItemExtras;

const HIDDEN = ["PK", "SK", "retry", "timeoutSeconds", "leaseUntil", "leaseToken", "availableAt", "taskToken"];
const INDEX_FIELDS = ["GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK", "GSI4PK", "GSI4SK"];

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
  return task as Task;
}

/** The item of a task, with its index entries for its status. */
function toItem(record: TaskRecord): Record<string, unknown> {
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

/** Writes a new task; false when a task with its id exists. */
export async function create(ctx: Context, record: TaskRecord): Promise<boolean> {
  return putItem(ctx, toItem(record), IS_NEW);
}

/**
 * Writes a new task with another new item (its audit record) in one batch, unconditionally: only for an id that
 * is fresh (time plus 80 random bits).
 */
export async function createWith(ctx: Context, record: TaskRecord, other: Record<string, unknown>): Promise<void> {
  await batchPut(ctx, [toItem(record), other]);
}

const LIST_INDEXES: Record<string, GsiName> = { none: "GSI1", agent: "GSI2", status: "GSI3", both: "GSI4" };

function listPartition(query: { agentId?: string | undefined; status?: TaskStatus | undefined }) {
  if (query.agentId && query.status) {
    return { index: LIST_INDEXES.both as GsiName, pk: partitions.tasksOfAgentIn(query.agentId, query.status) };
  }
  if (query.agentId) return { index: LIST_INDEXES.agent as GsiName, pk: partitions.tasksOfAgent(query.agentId) };
  if (query.status) return { index: LIST_INDEXES.status as GsiName, pk: partitions.tasksIn(query.status) };
  return { index: LIST_INDEXES.none as GsiName, pk: partitions.tasks };
}

/** A page of tasks newest first, by agent and/or status: one Query on the matching index. */
export async function list(
  ctx: Context,
  query: Pick<ListTasksQuery, "agentId" | "status" | "cursor"> & { limit: number },
): Promise<Page<TaskRecord>> {
  const { index, pk } = listPartition(query);
  return queryPage(ctx, { index, partition: pk, newestFirst: true, map: fromItem }, query);
}

/** What {@link newestOfAgent} reads of a task. */
export interface TaskSummary {
  id: string;
  action: string;
  finishedAt?: string;
}

/** The newest `limit` tasks of an agent in one status: ids, actions and finish times only (one Query). */
export async function newestOfAgent(
  ctx: Context,
  agentId: string,
  status: TaskStatus,
  limit: number,
): Promise<TaskSummary[]> {
  const gsi = gsiKeys("GSI4");
  const items = await queryItems(ctx, {
    IndexName: "GSI4",
    KeyConditionExpression: "#pk = :pk",
    ProjectionExpression: "#id, #action, finishedAt",
    ExpressionAttributeNames: { "#pk": gsi.partitionKey, "#id": "id", "#action": "action" },
    ExpressionAttributeValues: { ":pk": partitions.tasksOfAgentIn(agentId, status) },
    ScanIndexForward: false,
    Limit: limit,
  });
  return items as unknown as TaskSummary[];
}

/** The status-dependent index keys of a task, set on every transition. */
function statusKeys(record: Pick<Task, "id" | "agentId">, status: TaskStatus) {
  const all = keys.taskIndexes(record.id, record.agentId, status);
  return { GSI3PK: all.GSI3PK, GSI4PK: all.GSI4PK };
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

/** One conditional single-item write per state change; returns the new record, or undefined if the condition failed. */
export function transition(ctx: Context, t: Transition): Promise<TaskRecord | undefined> {
  return updateAndRead(ctx, keys.task(t.task.id), change(ctx, t), fromItem);
}

/** {@link transition} for callers that need only to know whether it happened (nothing is read back). */
export async function transitioned(ctx: Context, t: Transition): Promise<boolean> {
  return (await updateItem(ctx, keys.task(t.task.id), change(ctx, t))) !== undefined;
}

function change(ctx: Context, t: Transition): ItemUpdate {
  return {
    set: { status: t.to, updatedAt: ctx.now().toISOString(), ...statusKeys(t.task, t.to), ...t.set },
    setExpressions: [
      "#events = list_append(#events, :events)",
      ...(t.setExpressions ?? []),
      ...(t.incrementAttempts ? ["#attempts = #attempts + :one"] : []),
    ],
    ...(t.remove ? { remove: t.remove } : {}),
    condition: t.condition,
    names: { "#events": "events", ...(t.incrementAttempts ? { "#attempts": "attempts" } : {}), ...t.names },
    values: { ":events": t.events, ...(t.incrementAttempts ? { ":one": 1 } : {}), ...t.values },
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
