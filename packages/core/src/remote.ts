import { createHash, randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { DeleteMessageCommand, type Message, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import * as z from "zod";
import * as Agents from "./agents.js";
import * as Attempts from "./attempts.js";
import type { Context } from "./context.js";
import { ConflictError, NexusError, NotFoundError } from "./errors.js";
import { attemptKeys, type Logger } from "./log.js";
import * as Payloads from "./payloads.js";
import { heartbeat, reportToPlan } from "./plans/report.js";
import { pure } from "./pure.js";
import { type TaskMessage, TaskMessageSchema } from "./queues.js";
import type { Agent, Task, TaskError } from "./schemas.js";
import * as TaskLogs from "./task-logs.js";
import * as Tasks from "./tasks.js";

/**
 * Remote agents: workers that run anywhere with HTTPS and an API key. They claim tasks from their agent's
 * queue (a long poll), each under a lease held by a random token, and report the outcome with that token.
 * The claim is the Lambda worker's claim (same conditional write); success and failure are its transitions,
 * guarded by the lease instead of the invocation. A lease that runs out is the sweeper's business: it puts
 * the task back on the queue (or fails it when no attempts are left), and the stale token is refused.
 */

/** Longest a claim waits for work (SQS's long-poll limit; it fits the API function's 29 s). */
export const MAX_WAIT_SECONDS = 20;
/**
 * A claim's receive waits at most this long per call (`settings.claimPollSeconds`, default the whole wait): SQS's
 * long poll returns as soon as work arrives, and so does the local runtime's emulator, so one call covers the wait.
 */
const sliceSeconds = (ctx: { settings: { claimPollSeconds?: number } }) =>
  ctx.settings.claimPollSeconds ?? MAX_WAIT_SECONDS;
/** How long a received message stays invisible while it is claimed (then deleted). */
const RECEIVE_VISIBILITY_SECONDS = 30;

const LeaseToken = /* @__PURE__ */ pure(() =>
  z
    .string()
    .min(16)
    .max(128)
    .regex(/^[A-Za-z0-9_-]+$/, "must be the leaseToken a claim returned")
    .describe("The token of the claim that holds the task"),
);
const LeaseSeconds = /* @__PURE__ */ pure(() => z.number().int().min(10).max(900));

export const ClaimInput = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      max: z.number().int().min(1).max(10).default(1).describe("Most tasks to claim (default 1)"),
      waitSeconds: z
        .number()
        .int()
        .min(0)
        .max(MAX_WAIT_SECONDS)
        .default(MAX_WAIT_SECONDS)
        .describe("Longest to wait for a task when none is queued (default 20)"),
      leaseSeconds: LeaseSeconds.default(60).describe(
        "How long each claimed task is held without an extend (default 60)",
      ),
    })
    .meta({ id: "ClaimInput" }),
);
export type ClaimInput = z.input<typeof ClaimInput>;

export const ClaimedTask = /* @__PURE__ */ pure(() =>
  z
    .object({
      id: z.string(),
      action: z.string(),
      params: z.unknown(),
      attempt: z.number().int().describe("This attempt's number, from 1"),
      maxAttempts: z.number().int(),
      leaseToken: z.string().describe("Proves the claim on complete, fail and extend; shown only here"),
      leaseUntil: z.string().describe("When the lease runs out unless extended"),
    })
    .meta({ id: "ClaimedTask" }),
);
export type ClaimedTask = z.output<typeof ClaimedTask>;

export const ClaimResult = /* @__PURE__ */ pure(() =>
  z
    .object({ tasks: z.array(ClaimedTask).describe("Empty when nothing came within waitSeconds") })
    .meta({ id: "ClaimResult" }),
);

export const CompleteInput = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      leaseToken: LeaseToken,
      result: z
        .unknown()
        .optional()
        .describe(
          "The task's result: any JSON, 24 levels deep at most; the body may be up to 5 MB (kept in object storage over 32 KB)",
        ),
      logs: TaskLogs.RemoteAttemptLog.optional(),
    })
    .meta({ id: "CompleteTaskInput" }),
);
export type CompleteInput = z.output<typeof CompleteInput>;

export const FailInput = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      leaseToken: LeaseToken,
      error: z
        .strictObject({
          code: z
            .string()
            .min(1)
            .max(100)
            .regex(/^[A-Za-z0-9_.:-]+$/, "letters, digits and _ . : - only"),
          message: z.string().max(2000),
          retriable: z.boolean().default(true).describe("false fails the task at once; default true (retry)"),
        })
        .describe("Why the attempt failed"),
      logs: TaskLogs.RemoteAttemptLog.optional(),
    })
    .meta({ id: "FailTaskInput" }),
);
export type FailInput = z.output<typeof FailInput>;

export const ExtendInput = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      leaseToken: LeaseToken,
      leaseSeconds: LeaseSeconds.default(60).describe("The lease runs this long from now (default 60)"),
    })
    .meta({ id: "ExtendLeaseInput" }),
);
export type ExtendInput = z.output<typeof ExtendInput>;

export const Lease = /* @__PURE__ */ pure(() =>
  z.object({ id: z.string(), attempt: z.number().int(), leaseUntil: z.string() }).meta({ id: "Lease" }),
);
export type Lease = z.output<typeof Lease>;

export interface RemoteOptions {
  ctx: Context;
  logger: Logger;
}

const hashToken = (token: string) => createHash("sha256").update(token, "utf8").digest("hex");

/** The 409 for an outcome or extension whose lease is gone. Nothing was changed. */
function leaseLost(id: string, status: string | undefined) {
  return new ConflictError(
    "lease_lost",
    `the lease on task '${id}' is not held: it expired, a newer claim holds the task, or the task ended (${status ?? "unknown"})`,
    { field: "leaseToken", status },
  );
}

/**
 * Keeps what the worker logged during the held attempt as that attempt's logs (before its outcome is recorded, so
 * they are there when the outcome is seen). A log that cannot be stored does not hold the outcome up.
 */
async function keepLogs(options: RemoteOptions, record: Tasks.TaskRecord, logs: TaskLogs.RemoteAttemptLog | undefined) {
  if (!logs) return;
  const attempt = { taskId: record.id, attempt: record.attempts, startedAt: Attempts.attemptStartedAt(record) };
  await TaskLogs.saveReceived(options.ctx, attempt, logs).catch((error: unknown) => {
    options.logger.warn("the attempt's log could not be stored", { taskId: record.id, error });
  });
}

/** The holder of a live lease owns the running attempt. */
function leaseHeld(record: Tasks.TaskRecord, tokenHash: string, now: string): Attempts.Ownership {
  return {
    condition: "#st = :running AND #n = :n AND #tok = :tok AND #lease >= :now",
    names: { "#st": "status", "#n": "attempts", "#tok": "leaseToken", "#lease": "leaseUntil" },
    values: { ":running": "running", ":n": record.attempts, ":tok": tokenHash, ":now": now },
  };
}

const holds = (record: Tasks.TaskRecord, tokenHash: string, now: string) =>
  record.status === "running" && record.leaseToken === tokenHash && (record.leaseUntil ?? "") >= now;

/** The task, if the caller may touch it: an agent key sees only its own agent's tasks (others are 404). */
async function taskFor(ctx: Context, id: string, own: string | undefined): Promise<Tasks.TaskRecord> {
  const record = await Tasks.find(ctx, id);
  if (!record || (own !== undefined && record.agentId !== own)) throw new NotFoundError("task", id);
  return record;
}

async function deliveryFor(options: RemoteOptions, agentId: string): Promise<Attempts.DeliveryOptions> {
  const agent = await Agents.getRecent(options.ctx, agentId);
  return { ctx: options.ctx, logger: options.logger, agentId, queue: agent.queue };
}

async function claimable(ctx: Context, agentId: string): Promise<Agent> {
  const agent = await Agents.getRecent(ctx, agentId);
  if (agent.builtin) {
    throw new ConflictError("builtin_agent", `'${agentId}' is a built-in agent: its tasks run in its own function`);
  }
  return agent;
}

const isMissingQueue = (error: unknown) =>
  error instanceof Error && /NonExistentQueue|QueueDoesNotExist/.test(`${error.name} ${error.message}`);

/**
 * Claims up to `max` queued tasks of a custom agent, waiting up to `waitSeconds` for the first. Each claimed
 * task is `running` under a new lease; its message is deleted (the task item is the truth from then on).
 * An inactive agent gets nothing. Returns as soon as something was claimed, or empty-handed at the deadline
 * or when `signal` aborts (the caller went away).
 */
export async function claim(
  options: RemoteOptions,
  agentId: string,
  raw: ClaimInput,
  signal?: AbortSignal,
): Promise<ClaimedTask[]> {
  const { ctx, logger } = options;
  const input = ClaimInput.parse(raw);
  let agent = await claimable(ctx, agentId);
  const deadline = Date.now() + input.waitSeconds * 1000;
  const claimed: ClaimedTask[] = [];
  for (let first = true; claimed.length === 0 && !signal?.aborted; first = false) {
    const remainingMs = deadline - Date.now();
    if (!first && remainingMs <= 0) break;
    if (!first) agent = await claimable(ctx, agentId);
    if (agent.status !== "active") {
      await sleep(Math.min(sliceSeconds(ctx) * 1000, Math.max(0, remainingMs)), undefined, { signal }).catch(() => {});
      continue;
    }
    let messages: Message[];
    try {
      const out = await ctx.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: agent.queue.url,
          MaxNumberOfMessages: input.max - claimed.length,
          WaitTimeSeconds: Math.max(0, Math.min(sliceSeconds(ctx), Math.ceil(remainingMs / 1000))),
          VisibilityTimeout: RECEIVE_VISIBILITY_SECONDS,
        }),
      );
      messages = out.Messages ?? [];
    } catch (error) {
      if (isMissingQueue(error)) throw new NotFoundError("agent", agentId); // deleted meanwhile
      throw error;
    }
    let fault: unknown;
    for (const message of messages) {
      try {
        const task = await claimMessage(options, agent, message, input.leaseSeconds);
        if (task) claimed.push(task);
      } catch (error) {
        // Left on the queue: it reappears after the visibility timeout and is claimed then.
        logger.error("claim failed; the message will be redelivered", { agentId, messageId: message.MessageId, error });
        fault ??= error;
      }
    }
    // Tasks already claimed are handed out; a fault with nothing to hand out is the caller's 500.
    if (fault !== undefined && claimed.length === 0) throw fault;
  }
  return claimed;
}

/** Claims the task one message names; the message is deleted unless the claim hit a fault. */
async function claimMessage(
  options: RemoteOptions,
  agent: Agent,
  message: Message,
  leaseSeconds: number,
): Promise<ClaimedTask | undefined> {
  const { ctx, logger } = options;
  let body: TaskMessage | undefined;
  try {
    body = TaskMessageSchema.parse(JSON.parse(message.Body ?? ""));
  } catch {
    logger.error("malformed message dropped", { agentId: agent.id, bodyBytes: message.Body?.length ?? 0 });
  }
  let claimed: ClaimedTask | undefined;
  if (body) {
    const token = randomBytes(32).toString("base64url");
    const leaseUntil = new Date(ctx.now().getTime() + leaseSeconds * 1000).toISOString();
    const delivery = { ctx, logger, agentId: agent.id, queue: agent.queue };
    const record = await Attempts.claim(delivery, body, leaseUntil, { leaseToken: hashToken(token) });
    if (record) {
      await heartbeat(ctx, record.taskToken);
      claimed = {
        id: record.id,
        action: record.action,
        params: await Payloads.paramsOf(ctx, record),
        attempt: record.attempts,
        maxAttempts: record.maxAttempts,
        leaseToken: token,
        leaseUntil,
      };
    }
  }
  await ctx.sqs
    .send(new DeleteMessageCommand({ QueueUrl: agent.queue.url, ReceiptHandle: message.ReceiptHandle }))
    .catch((error: unknown) => {
      // Redelivered later: the claim then sees a running (or finished) task and drops it.
      logger.warn("claimed message not deleted", { agentId: agent.id, messageId: message.MessageId, error });
    });
  return claimed;
}

/**
 * Records the result of a claimed task (it succeeds) if the lease is still held. The result is checked as
 * the Lambda worker checks it: one that does not fit fails the task (not retriable) and is a 422. Repeating
 * a completion that was recorded returns the task again.
 */
export async function complete(options: RemoteOptions, id: string, input: CompleteInput, own?: string): Promise<Task> {
  const { ctx } = options;
  const record = await taskFor(ctx, id, own);
  const tokenHash = hashToken(input.leaseToken);
  const now = ctx.now().toISOString();
  if (record.status === "succeeded" && record.leaseToken === tokenHash) {
    // A retried completion (the first reply was lost): the plan step is told again if it was not.
    await reportToPlan(ctx, record);
    return Tasks.toPublic(record);
  }
  if (!holds(record, tokenHash, now)) throw leaseLost(id, record.status);
  await keepLogs(options, record, input.logs);
  const checked = Attempts.checkResult(input.result ?? null);
  if (!checked.ok) {
    const failed = await Attempts.failAttempt(
      await deliveryFor(options, record.agentId),
      record,
      checked.error,
      leaseHeld(record, tokenHash, now),
    );
    if (!failed) throw leaseLost(id, (await Tasks.find(ctx, id))?.status);
    throw new NexusError(checked.error.code, 422, `${checked.error.message}; the task failed`, {
      details: { field: "result", taskStatus: "failed" },
    });
  }
  const owner = leaseHeld(record, tokenHash, now);
  if (!(await Attempts.succeedAttempt(ctx, record, checked.result, owner, checked.text))) {
    throw leaseLost(id, (await Tasks.find(ctx, id))?.status);
  }
  options.logger.info("task succeeded", {
    ...attemptKeys(record, record.attempts),
    action: record.action,
    remote: true,
  });
  return Tasks.get(ctx, id);
}

/**
 * Records a failed attempt of a claimed task through the worker's failure path: a retriable error with
 * attempts left puts it back on the queue after the backoff; otherwise it fails and is dead-lettered.
 */
export async function fail(options: RemoteOptions, id: string, input: FailInput, own?: string): Promise<Task> {
  const { ctx } = options;
  const record = await taskFor(ctx, id, own);
  const tokenHash = hashToken(input.leaseToken);
  const now = ctx.now().toISOString();
  if (!holds(record, tokenHash, now)) throw leaseLost(id, record.status);
  await keepLogs(options, record, input.logs);
  const error: TaskError = { ...input.error };
  const delivery = await deliveryFor(options, record.agentId);
  if (!(await Attempts.failAttempt(delivery, record, error, leaseHeld(record, tokenHash, now)))) {
    throw leaseLost(id, (await Tasks.find(ctx, id))?.status);
  }
  return Tasks.get(ctx, id);
}

/** Renews a held lease: it now runs `leaseSeconds` from now. A plan step waiting on the task hears a heartbeat. */
export async function extend(options: RemoteOptions, id: string, input: ExtendInput, own?: string): Promise<Lease> {
  const { ctx } = options;
  const record = await taskFor(ctx, id, own);
  const tokenHash = hashToken(input.leaseToken);
  const now = ctx.now();
  if (!holds(record, tokenHash, now.toISOString())) throw leaseLost(id, record.status);
  const leaseUntil = new Date(now.getTime() + input.leaseSeconds * 1000).toISOString();
  const extended = await Tasks.transitioned(ctx, {
    task: record,
    to: "running",
    set: { leaseUntil },
    events: [],
    ...leaseHeld(record, tokenHash, now.toISOString()),
  });
  if (!extended) throw leaseLost(id, (await Tasks.find(ctx, id))?.status);
  await heartbeat(ctx, record.taskToken);
  return { id, attempt: record.attempts, leaseUntil };
}
