import type { Context } from "./context.js";
import { recordTaskFailure } from "./failures.js";
import { jsonDepth, MAX_JSON_DEPTH } from "./json-depth.js";
import type { Logger } from "./log.js";
import { metrics } from "./metrics.js";
import * as Payloads from "./payloads.js";
import { reportToPlan } from "./plans/report.js";
import { type DeadLetter, sendDeadLetter, sendTaskMessage, type TaskMessage } from "./queues.js";
import type { QueueRef, TaskError } from "./schemas.js";
import type { TaskRecord } from "./tasks.js";
import * as Tasks from "./tasks.js";

/**
 * The attempt lifecycle of a task: the claim that starts an attempt (queued, or running under an expired lease →
 * running), and the conditional transitions that end it (succeeded; failed and retried later, or failed for good
 * and dead-lettered; abandoned by its worker). The SQS consumer (worker.ts), remote workers (remote.ts) and the
 * sweeper drive them; each is one conditional write guarded by who owns the running attempt.
 */

/** What claiming and ending an attempt need: the agent, its queue, and where to log. */
export interface DeliveryOptions {
  ctx: Context;
  agentId: string;
  queue: QueueRef;
  logger: Logger;
}

/** The condition under which an attempt's outcome may be recorded: who owns the running attempt. */
export interface Ownership {
  condition: string;
  names: Record<string, string>;
  values: Record<string, unknown>;
}

const failedWith = (error: TaskError) => ({ error });

/** When the record's current attempt started (its `started` event), else when the task first started. */
export function attemptStartedAt(record: TaskRecord): string | undefined {
  const started = record.events.findLast((e) => e.type === "started" && e.attempt === record.attempts);
  return started?.at ?? record.startedAt ?? undefined;
}

function attemptStart(record: TaskRecord): number | undefined {
  const at = attemptStartedAt(record);
  return at ? Date.parse(at) : undefined;
}

/** An attempt's outcome as metrics: the outcome's count and, when its start is known, its duration. */
function attemptEnded(
  ctx: Context,
  record: TaskRecord,
  outcome: "TasksSucceeded" | "TasksFailed" | "TasksRetried",
): void {
  const dimensions = { Agent: record.agentId };
  metrics().count(outcome, 1, dimensions);
  const start = attemptStart(record);
  if (start !== undefined) metrics().duration("TaskDuration", ctx.now().getTime() - start, dimensions);
}

const ownedBy = (attempt: number): Ownership => ({
  condition: "#st = :running AND #n = :n",
  names: { "#st": "status", "#n": "attempts" },
  values: { ":running": "running", ":n": attempt },
});

/**
 * queued (or running with an expired lease) → running, for attempt `attempts + 1`; undefined if the condition
 * fails. `extra` is set on the item with it (a remote claim's lease token).
 */
async function startAttempt(
  ctx: Context,
  task: Pick<TaskRecord, "id" | "agentId">,
  attempts: number,
  leaseUntil: string,
  extra: Record<string, unknown> = {},
) {
  const now = ctx.now().toISOString();
  const started = await Tasks.transition(ctx, {
    task,
    to: "running",
    set: { ...extra, leaseUntil },
    // A consumer's claim holds no lease token: one left by an earlier remote claim would make it look remote.
    ...("leaseToken" in extra ? {} : { remove: ["leaseToken"] }),
    setExpressions: ["#started = if_not_exists(#started, :now)"],
    incrementAttempts: true,
    events: [{ at: now, type: "started", attempt: attempts + 1 }],
    // Queued, or running on a lease that ran out (AND binds tighter than OR).
    condition:
      "attribute_exists(PK) AND #agent = :agent AND #n = :n AND #n < #max AND (#st = :queued OR #st = :running AND #lease < :now)",
    names: {
      "#agent": "agentId",
      "#n": "attempts",
      "#max": "maxAttempts",
      "#st": "status",
      "#lease": "leaseUntil",
      "#started": "startedAt",
    },
    values: { ":agent": task.agentId, ":n": attempts, ":queued": "queued", ":running": "running", ":now": now },
  });
  // Time queued: from submission to the first attempt's start (later attempts wait on their backoff, not the queue).
  if (started && attempts === 0) {
    metrics().duration("TaskQueuedTime", Date.parse(now) - Date.parse(started.createdAt), { Agent: task.agentId });
  }
  return started;
}

/**
 * A task failed for good: it goes into the failures inbox at once, and its record to the agent's DLQ (counted as a
 * dead letter, `DlqArrivals`; the ingestion pass finds it in the inbox already). Called again for a task found failed (a
 * redelivery after a crash in between), it records what is missing and nothing twice.
 */
async function deadLetter(
  ctx: Context,
  queue: QueueRef,
  record: TaskRecord,
  ended: { attempts: number; error: TaskError; at: string },
) {
  const { attempts, error, at: failedAt } = ended;
  const letter: DeadLetter = {
    taskId: record.id,
    agentId: record.agentId,
    action: record.action,
    attempts,
    error,
    failedAt,
  };
  // Only the call that recorded it sends the DLQ copy: a crash in between loses that copy (a health signal), never
  // the failure.
  if (await recordTaskFailure(ctx, letter, record.planId ?? null)) {
    // Counted once, here (the ingestion pass counts only the dead letters it records itself).
    metrics().count("DlqArrivals", 1, { Agent: record.agentId });
    await sendDeadLetter(ctx, queue.dlqUrl, letter);
  }
}

/**
 * Ends a failed attempt: retry later through a delayed message, or fail the task for good and dead-letter it.
 * Returns whether it was recorded (false: the attempt no longer owned the task).
 */
export async function failAttempt(
  options: DeliveryOptions,
  record: TaskRecord,
  error: TaskError,
  owner: Ownership = ownedBy(record.attempts),
): Promise<boolean> {
  const { ctx, queue, logger } = options;
  const attempt = record.attempts;
  const now = ctx.now();
  const at = now.toISOString();
  if (error.retriable && attempt < record.maxAttempts) {
    const delay = Tasks.retryDelaySeconds(record.retry, attempt);
    const updated = await Tasks.transition(ctx, {
      task: record,
      to: "queued",
      set: { ...failedWith(error), availableAt: new Date(now.getTime() + delay * 1000).toISOString() },
      remove: ["leaseUntil"],
      events: [{ at, type: "attempt_failed", attempt, error, retryInSeconds: delay }],
      ...owner,
    });
    if (updated) {
      attemptEnded(ctx, record, "TasksRetried");
      await sendTaskMessage(ctx, queue.url, { taskId: record.id, attempt: attempt + 1 }, delay);
    }
    logger.warn("attempt failed; retry scheduled", { taskId: record.id, attempt, code: error.code, delay });
    return Boolean(updated);
  }
  const message = error.retriable ? `gave up after ${attempt} attempts` : "error is not retriable";
  const updated = await Tasks.transition(ctx, {
    task: record,
    to: "failed",
    set: { ...failedWith(error), finishedAt: at },
    remove: ["leaseUntil"],
    events: [
      { at, type: "attempt_failed", attempt, error },
      { at, type: "failed", attempt, message, error },
    ],
    ...owner,
  });
  if (updated) {
    attemptEnded(ctx, record, "TasksFailed");
    await deadLetter(ctx, queue, record, { attempts: attempt, error, at });
    await reportToPlan(ctx, updated);
  }
  logger.error("task failed", { taskId: record.id, attempt, code: error.code, retriable: error.retriable });
  return Boolean(updated);
}

/**
 * Records a successful attempt (if it still owns the task) and tells a waiting plan step; returns whether it did.
 * A result over the inline size is written to the object store first, under a key of this attempt and its hash
 * (payloads.ts): written twice, it is the same object; an attempt that lost the task leaves an object nothing
 * references.
 */
export async function succeedAttempt(
  ctx: Context,
  record: TaskRecord,
  result: unknown,
  owner: Ownership = ownedBy(record.attempts),
  text?: string,
): Promise<boolean> {
  const at = ctx.now().toISOString();
  const kept = await Payloads.keep(ctx, { taskId: record.id, kind: "result", attempt: record.attempts }, result, text);
  const change: Tasks.Transition = {
    task: record,
    to: "succeeded",
    set: { ...(kept.ref ? { resultRef: kept.ref } : { result: Tasks.storedJson(kept.value) }), finishedAt: at },
    remove: ["leaseUntil", "error"],
    events: [{ at, type: "succeeded", attempt: record.attempts }],
    ...owner,
  };
  // A task outside a plan has no step to tell: nothing to read back.
  if (record.planId === null) {
    const done = await Tasks.transitioned(ctx, change);
    if (done) attemptEnded(ctx, record, "TasksSucceeded");
    return done;
  }
  const updated = await Tasks.transition(ctx, change);
  // The token as it is now, not as it was at the claim: a plan step dispatched again meanwhile (a resumed run, a
  // retried invocation) waits on a new one.
  if (updated) {
    attemptEnded(ctx, record, "TasksSucceeded");
    await reportToPlan(ctx, updated);
  }
  return Boolean(updated);
}

/** Fails a task whose last attempt's worker vanished: its lease ran out and no attempts are left. */
export async function failAbandoned(ctx: Context, queue: QueueRef, record: TaskRecord): Promise<boolean> {
  const at = ctx.now().toISOString();
  const error: TaskError = {
    code: "lease_expired",
    message: `the worker of attempt ${record.attempts} stopped without reporting a result`,
    retriable: true,
  };
  const updated = await Tasks.transition(ctx, {
    task: record,
    to: "failed",
    set: { ...failedWith(error), finishedAt: at },
    remove: ["leaseUntil"],
    events: [{ at, type: "failed", attempt: record.attempts, message: "no attempts left", error }],
    condition: "#st IN (:queued, :running) AND #n = :n",
    names: { "#st": "status", "#n": "attempts" },
    values: { ":queued": "queued", ":running": "running", ":n": record.attempts },
  });
  if (updated) {
    // The attempt's worker vanished: its duration is unknown, only the outcome counts.
    metrics().count("TasksFailed", 1, { Agent: record.agentId });
    await deadLetter(ctx, queue, record, { attempts: record.attempts, error, at });
    await reportToPlan(ctx, updated);
  }
  return Boolean(updated);
}

/**
 * Claims the task for this delivery and returns the running record, or undefined when the message is to be
 * acknowledged without running anything: unknown or finished task, or another delivery holds a live lease.
 * `extra` is set on the task with the claim.
 */
export async function claim(
  options: DeliveryOptions,
  message: TaskMessage,
  leaseUntil: string,
  extra: Record<string, unknown> = {},
): Promise<TaskRecord | undefined> {
  const { ctx, logger } = options;
  const task = { id: message.taskId, agentId: options.agentId };
  if (message.attempt !== undefined) {
    // The usual case: one conditional write, no read.
    const started = await startAttempt(ctx, task, message.attempt - 1, leaseUntil, extra);
    if (started) return started;
  }
  const record = await Tasks.find(ctx, message.taskId);
  if (!record || record.agentId !== options.agentId) {
    logger.warn("message names no task of this agent; dropped", { taskId: message.taskId });
    return undefined;
  }
  if (record.status !== "queued" && record.status !== "running") {
    logger.info("task already finished; redelivery acknowledged", { taskId: record.id, status: record.status });
    // A failure not yet in the inbox, a plan step not yet told (what failed it stopped before): record, tell it now.
    if (record.status === "failed" && record.error) {
      const ended = {
        attempts: record.attempts,
        error: record.error,
        at: record.finishedAt ?? ctx.now().toISOString(),
      };
      await deadLetter(ctx, options.queue, record, ended);
    }
    await reportToPlan(ctx, record);
    return undefined;
  }
  if (record.status === "running" && (record.leaseUntil ?? "") >= ctx.now().toISOString()) {
    logger.info("task is running under another delivery; duplicate acknowledged", { taskId: record.id });
    return undefined;
  }
  if (record.attempts >= record.maxAttempts) {
    await failAbandoned(ctx, options.queue, record);
    return undefined;
  }
  return startAttempt(ctx, record, record.attempts, leaseUntil, extra);
}

/** A checked result: plain JSON and its text. */
export type CheckedResult = { ok: true; result: unknown; text: string } | { ok: false; error: TaskError };

/** A result must be plain JSON of bounded size (stored by reference above the inline size) and nesting. */
export function checkResult(result: unknown): CheckedResult {
  let text: string | undefined;
  try {
    text = JSON.stringify(result);
  } catch (error) {
    const message = `result is not JSON: ${(error as Error).message}`;
    return { ok: false, error: { code: "result_invalid", message, retriable: false } };
  }
  if (Buffer.byteLength(text ?? "null", "utf8") > Payloads.MAX_PAYLOAD_BYTES) {
    const message = `result exceeds ${Payloads.MAX_PAYLOAD_BYTES} bytes`;
    return { ok: false, error: { code: "result_too_large", message, retriable: false } };
  }
  const plain: unknown = JSON.parse(text ?? "null");
  if (jsonDepth(plain, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    const message = `result nests deeper than ${MAX_JSON_DEPTH} levels`;
    return { ok: false, error: { code: "result_too_deep", message, retriable: false } };
  }
  return { ok: true, result: plain, text: text ?? "null" };
}
