import { createHash } from "node:crypto";
import * as Audit from "./audit.js";
import type { Context } from "./context.js";
import { decodeCursor, encodeCursor } from "./cursor.js";
import { ConflictError, NexusError, NotFoundError, ValidationError } from "./errors.js";
import { newId } from "./ids.js";
import * as Limits from "./limits.js";
import { metrics } from "./metrics.js";
import * as Payloads from "./payloads.js";
import { reportToPlan } from "./plans/report.js";
import { sendTaskMessage, sendTaskMessages } from "./queues.js";
import {
  type ListTasksQuery,
  type Page,
  type RetryPolicy,
  SubmitTaskInput,
  SubmitTasksInput,
  type Task,
  type TaskError,
} from "./schemas.js";
import * as AuditStore from "./storage/audit.js";
import * as Idempotency from "./storage/idempotency.js";
import * as PlanStore from "./storage/plans.js";
import * as Store from "./storage/tasks.js";
import { find, type TaskRecord, toPublic } from "./storage/tasks.js";
import { type CheckedTarget, checkTarget } from "./targets.js";

/** Largest params and result of a task; over 32 KB they are kept in object storage, not on the item (payloads.ts). */
export { MAX_PARAMS_BYTES } from "./targets.js";
export const MAX_RESULT_BYTES = Payloads.MAX_PAYLOAD_BYTES;

/** Still reachable as `Tasks.batchPut`, where it lived before the stores. */
export { batchPut } from "./storage/items.js";
/** Task records as stored (storage/tasks.ts), and the state changes other modules make with them. */
export {
  find,
  fromItem,
  list as listRecords,
  listOpen,
  setToken,
  storedJson,
  type TaskRecord,
  type Transition,
  toPublic,
  transition,
  transitioned,
} from "./storage/tasks.js";

function fingerprint(input: { agentId: string; action: string; params: unknown }): string {
  return createHash("sha256")
    .update(JSON.stringify([input.agentId, input.action, input.params ?? null]))
    .digest("hex");
}

export async function get(ctx: Context, id: string): Promise<Task> {
  const record = await find(ctx, id);
  if (!record) throw new NotFoundError("task", id);
  return toPublic(record);
}

/** The task id an idempotency key already stands for, if any; a different request with it is a 409. */
async function heldIdempotencyKey(ctx: Context, key: string, print: string): Promise<string | undefined> {
  const held = await Idempotency.find(ctx, key);
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
  if (await Idempotency.claim(ctx, key, { taskId, fingerprint: print })) return taskId;
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

/**
 * A refused target as a submission answers it, by its first issue: 413 params too large, 400 too deep, 404 unknown
 * agent, 400 unknown action, 400 params against the schema (each named), 409 inactive agent.
 */
function refusal(agentId: string, checked: Extract<CheckedTarget, { ok: false }>, at = ""): NexusError {
  const [first, ...rest] = checked.issues;
  const where = at ? `${at}: ` : "";
  const field = (name: string) => (at ? `${at}.${name}` : name);
  if (!first) return new ValidationError(`${where}task is not valid`);
  switch (first.code) {
    case "params_too_large":
      return new NexusError("payload_too_large", 413, `${where}${first.message}`, {
        details: { field: field("params"), code: first.code },
      });
    case "params_too_deep":
      return new ValidationError(`${where}${first.message}`, { field: field("params"), code: first.code });
    case "unknown_agent":
      return new NexusError("not_found", 404, `${where}agent '${agentId}' was not found`, {
        details: { kind: "agent", id: agentId, field: field("agentId"), code: first.code },
      });
    case "unknown_action":
      return new ValidationError(`${where}${first.message}`, {
        field: field("action"),
        code: first.code,
        available: checked.agent?.actions.map((a) => a.name) ?? [],
      });
    case "invalid_params":
      return new ValidationError(
        `${where}params do not match the schema of '${checked.action?.name}'`,
        [first, ...rest]
          .filter((i) => i.code === "invalid_params")
          .map((i) => (at ? { ...i, path: field(i.path) } : i)),
      );
    case "agent_inactive":
      return new ConflictError("agent_inactive", `${where}${first.message}`, {
        field: field("agentId"),
        code: first.code,
      });
  }
}

/** A new task's record, its params kept in the object store first when over the inline size. */
async function newRecord(
  ctx: Context,
  task: {
    id: string;
    now: Date;
    checked: Extract<CheckedTarget, { ok: true }>;
    retry: RetryPolicy;
    input: SubmitTaskInput;
    options: SubmitOptions;
  },
): Promise<TaskRecord> {
  const { id, checked, retry, input, options } = task;
  const { agent, action, params } = checked;
  const at = task.now.toISOString();
  // Params over the inline size go to the object store first, under a key of this task and their hash.
  const kept = await Payloads.keep(ctx, { taskId: id, kind: "params" }, params);
  return {
    id,
    agentId: agent.id,
    action: action.name,
    ...(kept.ref ? { params: null, paramsRef: kept.ref } : { params }),
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
}

export async function submit(ctx: Context, raw: unknown, options: SubmitOptions = {}): Promise<Submitted> {
  const replay = (task: Task): Submitted => ({ task, replayed: true, audited: false, enqueued: true });
  const parsed = SubmitTaskInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError("task is not valid", parsed.error.issues);
  const input = parsed.data;
  const checked = await checkTarget(ctx, input);
  if (!checked.ok) throw refusal(input.agentId, checked);
  const { agent, action, params } = checked;

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
  const record = await newRecord(ctx, { id, now, checked, retry, input, options });
  // A new id is fresh (time plus 80 random bits), so the task and its audit record can go in one batch;
  // an id taken over from an interrupted earlier request keeps the conditional write.
  const audit = options.audit
    ? Audit.toItem(ctx, { ...options.audit, status: 202, outcome: "success", targetId: id })
    : undefined;
  if (!takenOver && audit) {
    await Store.createMany(ctx, [record], [audit]);
  } else {
    if (!(await Store.create(ctx, record))) return replay(await get(ctx, id));
    if (audit) await AuditStore.put(ctx, audit);
  }
  metrics().count("TasksSubmitted", 1, { Agent: agent.id });
  // The task is stored: if the queue refuses the message now, the sweeper re-sends it later.
  const enqueued = await sendTaskMessage(ctx, agent.queue.url, { taskId: id, attempt: 1 }).then(
    () => true,
    () => false,
  );
  return { task: toPublic({ ...record, params }), replayed: false, audited: Boolean(audit), enqueued };
}

export interface SubmittedMany {
  items: Array<{ task: Task; replayed: boolean }>;
  /** Whether the audit record given in the options was written (with the tasks). */
  audited: boolean;
  /** Tasks stored whose message the queue did not take; the sweeper re-sends them. */
  notEnqueued: string[];
}

/**
 * Submits up to {@link MAX_BATCH_TASKS} tasks in one request. Every task is checked first: one that would be refused
 * alone refuses the whole batch, naming it (`tasks[3]: …`), and nothing is stored or spent. A task with an
 * idempotencyKey is submitted as {@link submit} does (its key claimed by a conditional write; a replay returns the
 * earlier task), so retrying a whole batch whose tasks all carry keys is safe. The others are written together: the
 * tasks, their events and the request's audit record in BatchWriteItem requests of 25 items, then their messages with
 * SendMessageBatch, 10 a request, per agent queue; each agent's daily cap is spent once per action for all of them.
 */
export async function submitMany(
  ctx: Context,
  raw: unknown,
  options: Pick<SubmitOptions, "audit"> = {},
): Promise<SubmittedMany> {
  const parsed = SubmitTasksInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError("tasks are not valid", parsed.error.issues);
  const inputs = parsed.data.tasks;
  type Checked = Extract<CheckedTarget, { ok: true }>;
  const targets: Array<{ at: number; input: SubmitTaskInput; checked: Checked }> = [];
  for (const [at, input] of inputs.entries()) {
    const checked = await checkTarget(ctx, input);
    if (!checked.ok) throw refusal(input.agentId, checked, `tasks[${at}]`);
    targets.push({ at, input, checked });
  }
  const items: SubmittedMany["items"] = new Array(inputs.length);
  const notEnqueued: string[] = [];
  // Tasks with a key first, one by one: each is safe to repeat.
  for (const { at, input } of targets) {
    if (input.idempotencyKey === undefined) continue;
    const one = await submit(ctx, input);
    items[at] = { task: one.task, replayed: one.replayed };
    if (!one.enqueued) notEnqueued.push(one.task.id);
  }
  const fresh = targets.filter(({ input }) => input.idempotencyKey === undefined);
  if (fresh.length === 0) return { items, audited: false, notEnqueued };

  const spend = new Map<string, { agentId: string; action: string; n: number }>();
  for (const { checked } of fresh) {
    const name = `${checked.agent.id}.${checked.action.name}`;
    const entry = spend.get(name) ?? { agentId: checked.agent.id, action: checked.action.name, n: 0 };
    entry.n++;
    spend.set(name, entry);
  }
  // All or none: a cap that refuses gives back what the batch spent of the others.
  const spent: Array<{ agentId: string; action: string; n: number }> = [];
  try {
    for (const entry of spend.values()) {
      await Limits.spendDailyCap(ctx, ctx.settings.dailyCaps, entry.agentId, entry.action, entry.n);
      spent.push(entry);
    }
  } catch (error) {
    const caps = ctx.settings.dailyCaps;
    // A give-back that fails leaves the day's count high (never low); the refusal is still what is answered.
    const giveBack = (e: (typeof spent)[number]) =>
      Limits.giveBackDailyCap(ctx, caps, e.agentId, e.action, e.n).catch(() => undefined);
    await Promise.all(spent.map(giveBack));
    throw error;
  }
  const now = ctx.now();
  const records = await Promise.all(
    fresh.map(async ({ input, checked }) => {
      const retry = checked.action.retry;
      const record = await newRecord(ctx, { id: newId("tsk", now), now, checked, retry, input, options: {} });
      return { ...record, submittedWith: inputs.length };
    }),
  );
  const audit = options.audit
    ? Audit.toItem(ctx, { ...options.audit, status: 202, outcome: "success", targetId: records[0]?.id ?? null })
    : undefined;
  await Store.createMany(ctx, records, audit ? [audit] : []);
  const byQueue = new Map<string, TaskRecord[]>();
  records.forEach((record, n) => {
    const { at, checked } = fresh[n] as (typeof fresh)[number];
    byQueue.set(checked.agent.queue.url, [...(byQueue.get(checked.agent.queue.url) ?? []), record]);
    metrics().count("TasksSubmitted", 1, { Agent: record.agentId });
    items[at] = { task: toPublic({ ...record, params: checked.params }), replayed: false };
  });
  for (const [url, queued] of byQueue) {
    const messages = queued.map((record) => ({ taskId: record.id, attempt: 1 }));
    notEnqueued.push(...(await sendTaskMessages(ctx, url, messages)));
  }
  return { items, audited: Boolean(audit), notEnqueued };
}

/** Lists tasks newest first, by agent and/or status, one Query on the matching index. */
export async function list(ctx: Context, query: ListTasksQuery): Promise<Page<Task>> {
  if (query.planId !== undefined) return listOfPlan(ctx, { ...query, planId: query.planId });
  const page = await Store.list(ctx, query);
  return { items: page.items.map(toPublic), nextCursor: page.nextCursor };
}

/**
 * The tasks of a plan, newest first, filtered by agent and status as the list is: no index holds them by plan, but the
 * plan's steps know their tasks (a plan has a bounded number of steps), so they are read by key in one batch. A step
 * retried holds its latest task; the cursor is bound to the plan.
 */
async function listOfPlan(ctx: Context, query: ListTasksQuery & { planId: string }): Promise<Page<Task>> {
  const { planId, agentId, status, limit } = query;
  const loaded = await PlanStore.load(ctx, planId);
  if (!loaded) throw new NotFoundError("plan", planId);
  const scope = `tasks-of-plan:${planId}`;
  const before = decodeCursor(scope, query.cursor, ["planId", "before"], { planId })?.before as string | undefined;
  const ids = [...new Set(loaded.steps.flatMap((step) => (step.taskId ? [step.taskId] : [])))];
  const kept = [...(await Store.findMany(ctx, ids)).values()]
    .filter(
      (task) =>
        (agentId === undefined || task.agentId === agentId) &&
        (status === undefined || task.status === status) &&
        (before === undefined || task.id < before),
    )
    .sort((a, b) => (a.id < b.id ? 1 : -1));
  const page = kept.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(toPublic),
    nextCursor: kept.length > limit && last ? encodeCursor(scope, { planId, before: last.id }) : null,
  };
}

/** Cancels a task that has not finished. A running attempt's late result does not overwrite the cancellation. */
export async function cancel(ctx: Context, id: string, reason = "cancelled by request"): Promise<Task> {
  const record = await find(ctx, id);
  if (!record) throw new NotFoundError("task", id);
  const at = ctx.now().toISOString();
  const updated = await Store.transition(ctx, {
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
