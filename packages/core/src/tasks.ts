import { createHash } from "node:crypto";
import { BatchWriteCommand, GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import * as Agents from "./agents.js";
import * as Audit from "./audit.js";
import type { Context } from "./context.js";
import { ConflictError, isConditionalCheckFailed, NexusError, NotFoundError, ValidationError } from "./errors.js";
import { newId } from "./ids.js";
import { jsonDepth, MAX_JSON_DEPTH } from "./json-depth.js";
import * as Limits from "./limits.js";
import { validateParams } from "./params-schema.js";
import { reportToPlan } from "./plans/report.js";
import { sendTaskMessage } from "./queues.js";
import {
  type ListTasksQuery,
  type Page,
  type RetryPolicy,
  SubmitTaskInput,
  type Task,
  type TaskError,
  type TaskEvent,
  type TaskStatus,
} from "./schemas.js";
import { queryPage } from "./storage/query.js";
import { type GsiName, keys } from "./storage/table.js";
import { updateItem } from "./storage/update.js";

/** Params are stored in the task item (DynamoDB items are capped at 400 KB); results likewise. */
export const MAX_PARAMS_BYTES = 64 * 1024;
export const MAX_RESULT_BYTES = 256 * 1024;

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

/** Nullable fields are stored absent, so `if_not_exists` and `attribute_exists` can see them. */
function withoutNulls(record: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== null));
}

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value ?? null), "utf8");

function fingerprint(input: { agentId: string; action: string; params: unknown }): string {
  return createHash("sha256")
    .update(JSON.stringify([input.agentId, input.action, input.params ?? null]))
    .digest("hex");
}

export async function find(ctx: Context, id: string): Promise<TaskRecord | undefined> {
  const out = await ctx.ddb.send(
    new GetCommand({ TableName: ctx.tableName, Key: keys.task(id), ConsistentRead: true }),
  );
  return out.Item ? fromItem(out.Item) : undefined;
}

export async function get(ctx: Context, id: string): Promise<Task> {
  const record = await find(ctx, id);
  if (!record) throw new NotFoundError("task", id);
  return toPublic(record);
}

/** The task id an idempotency key already stands for, if any; a different request with it is a 409. */
async function heldIdempotencyKey(ctx: Context, key: string, print: string): Promise<string | undefined> {
  const out = await ctx.ddb.send(
    new GetCommand({ TableName: ctx.tableName, Key: keys.idempotency(key), ConsistentRead: true }),
  );
  const held = out.Item as { taskId: string; fingerprint: string } | undefined;
  if (!held) return undefined;
  if (held.fingerprint !== print) throw idempotencyConflict();
  return held.taskId;
}

const idempotencyConflict = () =>
  new ConflictError(
    "idempotency_conflict",
    "idempotencyKey was already used for a different request (agentId, action or params differ)",
    { field: "idempotencyKey" },
  );

/** Claims an idempotency key for a new task id, or returns the task id that already holds it. */
async function claimIdempotencyKey(ctx: Context, key: string, taskId: string, print: string): Promise<string> {
  try {
    await ctx.ddb.send(
      new PutCommand({
        TableName: ctx.tableName,
        Item: { ...keys.idempotency(key), taskId, fingerprint: print, createdAt: ctx.now().toISOString() },
        ConditionExpression: "attribute_not_exists(PK)",
      }),
    );
    return taskId;
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
  }
  const held = await heldIdempotencyKey(ctx, key, print);
  if (!held) throw new ConflictError("idempotency_conflict", "idempotency key is being used; retry the request");
  return held;
}

/**
 * Submits a task: validates it against the agent's action, records it `queued` and puts it on the
 * agent's queue. The same idempotencyKey with the same request returns the first task (`replayed`).
 */
export interface SubmitOptions {
  /**
   * The audit record of this request, when the caller wants it written together with a new task (one
   * batched write instead of two). Its status is 202 and its target the task.
   */
  audit?: Omit<Audit.AuditEntry, "status" | "outcome" | "targetId">;
  /** The plan step this task runs, and the token its outcome is reported through. */
  step?: { planId: string; stepId: string; taskToken: string; retry?: Partial<RetryPolicy> | null };
  /** The failed task this one redrives (from the failures inbox). */
  redriveOf?: string;
}

export interface Submitted {
  task: Task;
  replayed: boolean;
  /** Whether the audit record given in the options was written. */
  audited: boolean;
  /** False when the queue did not take the message; the sweeper re-sends it. */
  enqueued: boolean;
}

export async function submit(ctx: Context, raw: unknown, options: SubmitOptions = {}): Promise<Submitted> {
  const replay = (task: Task): Submitted => ({ task, replayed: true, audited: false, enqueued: true });
  const parsed = SubmitTaskInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError("task is not valid", parsed.error.issues);
  const input = parsed.data;
  const params = input.params ?? {};
  if (bytes(params) > MAX_PARAMS_BYTES) {
    throw new NexusError("payload_too_large", 413, `params exceed ${MAX_PARAMS_BYTES} bytes`, {
      details: { field: "params" },
    });
  }
  if (jsonDepth(params, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new ValidationError(`params nest deeper than ${MAX_JSON_DEPTH} levels`, { field: "params" });
  }
  const agent = await Agents.getRecent(ctx, input.agentId);
  const action = agent.actions.find((a) => a.name === input.action);
  if (!action) {
    throw new ValidationError(`agent '${agent.id}' has no action '${input.action}'`, {
      field: "action",
      available: agent.actions.map((a) => a.name),
    });
  }
  const issues = validateParams(action.params, params);
  if (issues.length > 0) throw new ValidationError(`params do not match the schema of '${action.name}'`, issues);
  if (agent.status !== "active") {
    throw new ConflictError("agent_inactive", `agent '${agent.id}' is inactive and accepts no new tasks`);
  }

  const retry = { ...action.retry, ...options.step?.retry };
  const now = ctx.now();
  let id = newId("tsk", now);
  let takenOver = false;
  const key = input.idempotencyKey;
  const print = key ? fingerprint({ agentId: agent.id, action: action.name, params }) : "";
  // A replay costs no daily cap: look for the key's task before spending.
  const earlier = key ? await heldIdempotencyKey(ctx, key, print) : undefined;
  if (earlier) {
    const existing = await find(ctx, earlier);
    if (existing) return replay(toPublic(existing));
    id = earlier;
    takenOver = true; // the first request stopped between the key and the task: finish its work
  } else {
    await Limits.spendDailyCap(ctx, ctx.settings.dailyCaps, agent.id, action.name);
    if (key) {
      const heldBy = await claimIdempotencyKey(ctx, key, id, print);
      if (heldBy !== id) {
        const existing = await find(ctx, heldBy);
        if (existing) return replay(toPublic(existing));
        id = heldBy;
        takenOver = true;
      }
    }
  }
  const at = now.toISOString();
  const record: TaskRecord = {
    id,
    agentId: agent.id,
    action: action.name,
    params,
    status: "queued",
    attempts: 0,
    maxAttempts: retry.maxAttempts,
    error: null,
    idempotencyKey: input.idempotencyKey ?? null,
    planId: options.step?.planId ?? null,
    redriveOf: options.redriveOf ?? null,
    stepId: options.step?.stepId ?? null,
    createdAt: at,
    updatedAt: at,
    startedAt: null,
    finishedAt: null,
    events: [{ at, type: "queued" }],
    retry,
    timeoutSeconds: action.timeoutSeconds,
    availableAt: at,
    ...(options.step ? { taskToken: options.step.taskToken } : {}),
  };
  const item = {
    ...keys.task(id),
    ...keys.taskIndexes(id, agent.id, "queued"),
    ...withoutNulls(record),
    params: storedJson(record.params),
  };
  // A new id is fresh (time plus 80 random bits), so the task and its audit record can go in one batch;
  // an id taken over from an interrupted earlier request keeps the conditional write.
  const audit = options.audit
    ? Audit.toItem(ctx, { ...options.audit, status: 202, outcome: "success", targetId: id })
    : undefined;
  if (!takenOver && audit) {
    await batchPut(ctx, [item, audit]);
  } else {
    try {
      await ctx.ddb.send(
        new PutCommand({ TableName: ctx.tableName, Item: item, ConditionExpression: "attribute_not_exists(PK)" }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      return replay(await get(ctx, id));
    }
    if (audit) await ctx.ddb.send(new PutCommand({ TableName: ctx.tableName, Item: audit }));
  }
  // The task is stored: if the queue refuses the message now, the sweeper re-sends it later.
  const enqueued = await sendTaskMessage(ctx, agent.queue.url, { taskId: id, attempt: 1 }).then(
    () => true,
    () => false,
  );
  return { task: toPublic(record), replayed: false, audited: Boolean(audit), enqueued };
}

/**
 * Puts items with BatchWriteItem (25 per request), retrying what DynamoDB leaves unprocessed (throttling) a
 * few times.
 */
export async function batchPut(ctx: Context, items: Record<string, unknown>[]) {
  for (let start = 0; start < items.length; start += 25) {
    let requests = items.slice(start, start + 25).map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 0; requests.length > 0; attempt++) {
      if (attempt === 5) throw new Error(`${requests.length} items stayed unprocessed after ${attempt} batch writes`);
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      const out = await ctx.ddb.send(new BatchWriteCommand({ RequestItems: { [ctx.tableName]: requests } }));
      requests = (out.UnprocessedItems?.[ctx.tableName] ?? []) as typeof requests;
    }
  }
}

const LIST_INDEXES: Record<string, GsiName> = { none: "GSI1", agent: "GSI2", status: "GSI3", both: "GSI4" };

function listPartition(query: { agentId?: string | undefined; status?: TaskStatus | undefined }) {
  if (query.agentId && query.status) {
    return { index: LIST_INDEXES.both as GsiName, pk: `TASKS#A#${query.agentId}#S#${query.status}` };
  }
  if (query.agentId) return { index: LIST_INDEXES.agent as GsiName, pk: `TASKS#A#${query.agentId}` };
  if (query.status) return { index: LIST_INDEXES.status as GsiName, pk: `TASKS#S#${query.status}` };
  return { index: LIST_INDEXES.none as GsiName, pk: "TASKS" };
}

/** Lists tasks newest first, by agent and/or status, one Query on the matching index. */
export async function list(ctx: Context, query: ListTasksQuery): Promise<Page<Task>> {
  const page = await listRecords(ctx, query);
  return { items: page.items.map(toPublic), nextCursor: page.nextCursor };
}

export async function listRecords(
  ctx: Context,
  query: Pick<ListTasksQuery, "agentId" | "status" | "cursor"> & { limit: number },
): Promise<Page<TaskRecord>> {
  const { index, pk } = listPartition(query);
  return queryPage(ctx, { index, partition: pk, newestFirst: true, map: fromItem }, query);
}

/** The status-dependent index keys of a task, set on every transition. */
function statusKeys(record: Pick<Task, "id" | "agentId">, status: TaskStatus) {
  const all = keys.taskIndexes(record.id, record.agentId, status);
  return { GSI3PK: all.GSI3PK, GSI4PK: all.GSI4PK };
}

interface Transition {
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
export async function transition(ctx: Context, t: Transition): Promise<TaskRecord | undefined> {
  const out = await write(ctx, t, "ALL_NEW");
  return out?.Attributes ? fromItem(out.Attributes) : undefined;
}

/** {@link transition} for callers that need only to know whether it happened (nothing is read back). */
export async function transitioned(ctx: Context, t: Transition): Promise<boolean> {
  return (await write(ctx, t, "NONE")) !== undefined;
}

function write(ctx: Context, t: Transition, returnValues: "ALL_NEW" | "NONE") {
  return updateItem(
    ctx,
    keys.task(t.task.id),
    {
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
    },
    returnValues,
  );
}

/** Cancels a task that has not finished. A running attempt's late result does not overwrite the cancellation. */
export async function cancel(ctx: Context, id: string, reason = "cancelled by request"): Promise<Task> {
  const record = await find(ctx, id);
  if (!record) throw new NotFoundError("task", id);
  const at = ctx.now().toISOString();
  const updated = await transition(ctx, {
    task: record,
    to: "cancelled",
    set: { finishedAt: at },
    remove: ["leaseUntil"],
    events: [{ at, type: "cancelled", message: reason }],
    condition: "#st IN (:queued, :running)",
    names: { "#st": "status" },
    values: { ":queued": "queued", ":running": "running" },
  });
  if (!updated) {
    const current = await get(ctx, id);
    throw new ConflictError("task_finished", `task '${id}' is already ${current.status}`, { status: current.status });
  }
  // A plan step waiting on this task fails with it. If Step Functions cannot be told now, the step's own
  // timeout ends the wait.
  await reportToPlan(ctx, updated).catch(() => undefined);
  return toPublic(updated);
}

/** Backoff before attempt `attempt + 1`: exponential from the policy's base, capped, with ±20 % jitter. */
export function retryDelaySeconds(policy: RetryPolicy, attempt: number, random = Math.random): number {
  const base = Math.min(policy.maxBackoffSeconds, policy.backoffSeconds * 2 ** (attempt - 1));
  return Math.max(0, Math.round(base * (0.8 + 0.4 * random())));
}

export type { TaskError };

/** Points a plan step's task at a newer task token (the step was dispatched again). */
export async function setToken(ctx: Context, id: string, taskToken: string): Promise<void> {
  await ctx.ddb.send(
    new UpdateCommand({
      TableName: ctx.tableName,
      Key: keys.task(id),
      UpdateExpression: "SET #token = :token",
      ConditionExpression: "attribute_exists(PK)",
      ExpressionAttributeNames: { "#token": "taskToken" },
      ExpressionAttributeValues: { ":token": taskToken },
    }),
  );
}
