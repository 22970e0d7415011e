import { DeleteMessageBatchCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import * as z from "zod";
import * as Agents from "./agents.js";
import type { Context } from "./context.js";
import { ConflictError, NotFoundError } from "./errors.js";
import { metrics } from "./metrics.js";
import * as Payloads from "./payloads.js";
import { pure } from "./pure.js";
import { type DeadLetter, sendTaskMessage } from "./queues.js";
import { AgentId, type Page, PageLimit, TaskError } from "./schemas.js";
import * as Store from "./storage/failures.js";
import * as Tasks from "./tasks.js";

/**
 * The failures inbox: every task that failed for good, and every message a queue dead-lettered, as one list.
 * A task that fails for good is recorded at once, by whatever failed it (worker, remote report, sweeper), and its
 * record also goes to the agent's DLQ; SQS moves a message there after 5 receives. An ingestion pass moves DLQ
 * messages into failure items: a task's record is the same failure (`flr_<taskId>`), so it is written once whoever
 * comes first. A failure is redriven at most once: a new task (its params optionally edited) linked to the failed
 * one. Stored by storage/failures.ts.
 */
export const FailureStatus = /* @__PURE__ */ pure(() => z.enum(["open", "redriven"]));
export type FailureStatus = z.output<typeof FailureStatus>;

export const Failure = /* @__PURE__ */ pure(() =>
  z
    .object({
      id: z.string(),
      source: z.enum(["task", "message"]).describe("task: failed for good; message: dead-lettered by its queue"),
      agentId: z.string(),
      action: z.string().nullable(),
      taskId: z.string().nullable(),
      planId: z.string().nullable().describe("A plan's step: retry the plan instead of redriving the task"),
      error: TaskError,
      attempts: z.number().int(),
      failedAt: z.string(),
      status: FailureStatus,
      redrivenAt: z.string().nullable(),
      redrivenBy: z.string().nullable(),
      redriveTaskId: z.string().nullable().describe("The new task a redrive started"),
    })
    .meta({ id: "Failure" }),
);
export type Failure = z.output<typeof Failure>;

export const ListFailuresQuery = /* @__PURE__ */ pure(() =>
  z.strictObject({
    agentId: AgentId.optional(),
    status: FailureStatus.default("open"),
    limit: PageLimit,
    cursor: z.string().max(2048).optional(),
  }),
);
export type ListFailuresQuery = z.output<typeof ListFailuresQuery>;

export const RedriveInput = /* @__PURE__ */ pure(() =>
  z
    .strictObject({ params: z.unknown().optional().describe("Replaces the failed task's params (validated again)") })
    .meta({ id: "RedriveInput" }),
);

export const BulkRedriveInput = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      agentId: AgentId,
      max: z.number().int().min(1).max(100).default(25).describe("Open failures to redrive in this call, oldest first"),
    })
    .meta({ id: "BulkRedriveInput" }),
);

const DeadLetterBody = /* @__PURE__ */ pure(() =>
  z.object({
    taskId: z.string().min(1).max(64),
    agentId: z.string(),
    action: z.string(),
    attempts: z.number().int(),
    error: TaskError,
    failedAt: z.string(),
  }),
);
const TaskMessageBody = /* @__PURE__ */ pure(() =>
  z.object({
    taskId: z.string().min(1).max(64),
    attempt: z.number().int().optional(),
  }),
);

const unredriven = { status: "open" as const, redrivenAt: null, redrivenBy: null, redriveTaskId: null };

/** A task that failed for good, as its failure (one per task: its id is the task's). */
function taskFailure(letter: DeadLetter, planId: string | null): Failure {
  return {
    ...unredriven,
    id: `flr_${letter.taskId}`,
    source: "task",
    agentId: letter.agentId,
    action: letter.action,
    taskId: letter.taskId,
    planId,
    error: letter.error,
    attempts: letter.attempts,
    failedAt: letter.failedAt,
  };
}

/**
 * Records a task that failed for good in the inbox, at once; false when it is there already (a repeated call, or
 * the DLQ's copy of the record ingested first). Idempotent: the failure's id is the task's.
 */
export function recordTaskFailure(ctx: Context, letter: DeadLetter, planId: string | null): Promise<boolean> {
  return Store.create(ctx, taskFailure(letter, planId));
}

/** A DLQ message as a failure: the worker's record of a failed task, or a task message SQS gave up on. */
async function failureOf(ctx: Context, agentId: string, messageId: string, body: string): Promise<Failure> {
  const at = ctx.now().toISOString();
  const base = { agentId, ...unredriven };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const letter = DeadLetterBody.safeParse(parsed);
  if (letter.success) {
    const task = await Tasks.find(ctx, letter.data.taskId);
    return taskFailure({ ...letter.data, agentId }, task?.planId ?? null);
  }
  const message = TaskMessageBody.safeParse(parsed);
  const task = message.success ? await Tasks.find(ctx, message.data.taskId) : undefined;
  return {
    ...base,
    id: `flr_msg_${messageId}`,
    source: "message",
    action: task?.action ?? null,
    taskId: message.success ? message.data.taskId : null,
    planId: task?.planId ?? null,
    error: {
      code: "dead_lettered",
      message: message.success
        ? `the queue gave up on the task's message after repeated receives without an outcome`
        : `the queue dead-lettered a message that names no task (${Math.min(body.length, 1_000_000)} bytes)`,
      retriable: true,
    },
    attempts: task?.attempts ?? 0,
    failedAt: at,
  };
}

/**
 * Moves what waits in the agents' DLQs into the inbox (each message recorded once, then deleted). Returns
 * the number of new failures. Bounded per agent and pass; the next pass takes the rest.
 */
export async function ingest(ctx: Context, options: { maxPerAgent?: number } = {}): Promise<number> {
  const max = options.maxPerAgent ?? 100;
  let recorded = 0;
  for (const agent of await Agents.all(ctx)) {
    for (let taken = 0; taken < max; ) {
      const out = await ctx.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: agent.queue.dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      const messages = out.Messages ?? [];
      if (messages.length === 0) break;
      for (const message of messages) {
        const failure = await failureOf(ctx, agent.id, message.MessageId ?? "", message.Body ?? "");
        // Counted once per dead letter: a message redelivered after a crash finds its failure already recorded.
        if (await Store.create(ctx, failure)) {
          recorded++;
          metrics().count("DlqArrivals", 1, { Agent: agent.id });
        }
      }
      await ctx.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: agent.queue.dlqUrl,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? "" })),
        }),
      );
      taken += messages.length;
    }
  }
  return recorded;
}

export function list(ctx: Context, query: ListFailuresQuery): Promise<Page<Failure>> {
  return Store.list(ctx, query);
}

export async function get(ctx: Context, id: string): Promise<Failure> {
  const failure = await Store.find(ctx, id);
  if (!failure) throw new NotFoundError("failure", id);
  return failure;
}

/** open → redriven, once; false when someone else redrove it first. */
function markRedriven(ctx: Context, failure: Failure, by: string, taskId: string | null): Promise<boolean> {
  return Store.markRedriven(ctx, failure, { at: ctx.now().toISOString(), by, taskId });
}

export interface Redriven {
  failure: Failure;
  /** The new task; null when a dead-lettered message of a still open task was put back on its queue. */
  task: Tasks.TaskRecord | null;
}

/**
 * Redrives a failure once: a failed task becomes a new task (same agent and action; its params, or the
 * edited ones, validated again) that names the failed one in `redriveOf`; a dead-lettered message of a task
 * still open is put back on its queue. A repeated request returns the same new task (its idempotency key is
 * the failure's id); a plan's step is refused (retry the plan).
 */
export async function redrive(
  ctx: Context,
  id: string,
  options: { by: string; params?: unknown; hasParams?: boolean },
): Promise<Redriven> {
  const failure = await get(ctx, id);
  if (failure.planId) {
    throw new ConflictError(
      "plan_step",
      `this failure is a step of plan '${failure.planId}': retry the plan (POST /v1/plans/${failure.planId}/retry)`,
    );
  }
  const failed = failure.taskId ? await Tasks.find(ctx, failure.taskId) : undefined;
  if (!failed) throw new ConflictError("nothing_to_redrive", `failure '${id}' names no task that still exists`);
  if (failure.status === "redriven" && !failure.redriveTaskId) {
    throw new ConflictError("already_redriven", `failure '${id}' was redriven at ${failure.redrivenAt}`);
  }
  if (failure.source === "message" && (failed.status === "queued" || failed.status === "running")) {
    if (!(await markRedriven(ctx, failure, options.by, null))) {
      throw new ConflictError("already_redriven", `failure '${id}' was redriven already`);
    }
    const agent = await Agents.get(ctx, failed.agentId);
    await sendTaskMessage(ctx, agent.queue.url, { taskId: failed.id });
    return { failure: await get(ctx, id), task: null };
  }
  if (failed.status !== "failed") {
    throw new ConflictError(
      "nothing_to_redrive",
      `task '${failed.id}' is ${failed.status}; there is nothing to redrive`,
    );
  }
  const params = options.hasParams ? options.params : await Payloads.paramsOf(ctx, failed);
  const { task } = await Tasks.submit(
    ctx,
    { agentId: failed.agentId, action: failed.action, params, idempotencyKey: `redrive:${failure.id}` },
    { redriveOf: failed.id },
  );
  if (failure.status === "open") await markRedriven(ctx, failure, options.by, task.id);
  const current = await get(ctx, id);
  if (current.redriveTaskId !== task.id) {
    throw new ConflictError("already_redriven", `failure '${id}' was redriven to task '${current.redriveTaskId}'`);
  }
  return { failure: current, task: (await Tasks.find(ctx, task.id)) ?? null };
}

/** Redrives an agent's open failures, oldest first, up to `max`; each one as {@link redrive} would. */
export async function redriveAgent(ctx: Context, agentId: string, options: { by: string; max: number }) {
  await Agents.get(ctx, agentId);
  const open: Failure[] = [];
  let cursor: string | undefined;
  do {
    const page = await list(ctx, { agentId, status: "open", limit: 100, cursor });
    open.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor && open.length < 1000);
  const redriven: Array<{ failureId: string; taskId: string | null }> = [];
  const skipped: Array<{ failureId: string; code: string; message: string }> = [];
  for (const failure of open.reverse().slice(0, options.max)) {
    try {
      const result = await redrive(ctx, failure.id, { by: options.by });
      redriven.push({ failureId: failure.id, taskId: result.task?.id ?? null });
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      skipped.push({ failureId: failure.id, code: error.code, message: error.message });
    }
  }
  return { redriven, skipped };
}
