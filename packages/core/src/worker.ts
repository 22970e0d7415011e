import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import * as z from "zod";
import type { AgentSpec } from "./agents.js";
import {
  type CheckedResult,
  checkResult,
  claim,
  type DeliveryOptions,
  failAttempt,
  succeedAttempt,
} from "./attempts.js";
import type { Context } from "./context.js";
import { ActionError, NexusError } from "./errors.js";
import * as Events from "./events.js";
import { attemptKeys, type Logger, type LogRecord, withLogContext } from "./log.js";
import { describeParamsIssues } from "./params-schema.js";
import * as Payloads from "./payloads.js";
import { heartbeat } from "./plans/report.js";
import { type TaskMessage, TaskMessageSchema } from "./queues.js";
import type { TaskError } from "./schemas.js";
import type { TaskRecord } from "./storage/tasks.js";
import * as TaskLogs from "./task-logs.js";
import { inSpan } from "./trace.js";

/** The attempt lifecycle, as the consumer runs it (see attempts.ts). */
export {
  checkResult,
  claim,
  type DeliveryOptions,
  failAbandoned,
  failAttempt,
  type Ownership,
  succeedAttempt,
} from "./attempts.js";

export interface ActionContext {
  taskId: string;
  attempt: number;
  maxAttempts: number;
  /** Aborted when the action's timeout passes. */
  signal: AbortSignal;
  /**
   * The agent's logger for this attempt (its records carry the task, agent and attempt ids). Whatever the action logs
   * through any Nexus logger also goes to the consumer's {@link ConsumerOptions.attemptLog}.
   */
  logger?: Logger;
}

export type ActionHandler = (params: unknown, context: ActionContext) => Promise<unknown>;

/** What an agent's handlers get to work with. */
export interface AgentEnvironment {
  /** Clients and secrets (Secrets Manager in AWS, the local endpoint locally). */
  ctx: Context;
  /**
   * The agent's settings, `NEXUS_*` names: the function's environment in Lambda, the local runtime's
   * stand-in endpoints and directories locally.
   */
  config: Readonly<Record<string, string | undefined>>;
  logger: Logger;
}

/** The code side of an agent: its spec (what each action accepts) and what each action does. */
export interface AgentImplementation {
  spec: AgentSpec;
  /** Builds the action handlers, once per process (a Lambda cold start); providers may start lazily. */
  handlers(env: AgentEnvironment): Record<string, ActionHandler>;
}

/** A queue's consumer: what claiming and ending an attempt need, and the agent's handlers. */
export interface ConsumerOptions extends DeliveryOptions {
  handlers: Record<string, ActionHandler>;
  /** Gets every record logged while an attempt's action runs (e.g. to keep each attempt's log with the task). */
  attemptLog?: (attempt: { taskId: string; attempt: number }, record: LogRecord) => void;
}

/** What one invocation may spend: the consumer's deadline (Lambda's remaining time, or the poller's). */
export interface InvocationLimits {
  getRemainingTimeInMillis(): number;
}

/** Time a lease outlives the invocation, so a slow final write is not mistaken for a dead worker. */
const LEASE_MARGIN_MS = 30_000;

function toTaskError(error: unknown): TaskError {
  if (error instanceof ActionError) return { code: error.code, message: error.message, retriable: error.retriable };
  if (error instanceof z.ZodError) {
    // the handler's own parse refused the params: retrying cannot help
    return { code: "invalid_params", message: describeParamsIssues(error.issues), retriable: false };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: "action_error", message: message.slice(0, 1000), retriable: true };
}

async function runWithTimeout(
  handler: ActionHandler,
  params: unknown,
  context: Omit<ActionContext, "signal">,
  timeoutMs: number,
): Promise<unknown> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Settle first: whatever the action does when aborted comes too late to count.
      reject(new ActionError("timeout", `action did not finish within ${Math.round(timeoutMs / 1000)}s`));
      controller.abort();
    }, timeoutMs);
  });
  try {
    return await Promise.race([handler(params, { ...context, signal: controller.signal }), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs one delivery of one task. Throws only for infrastructure faults, so the message is redelivered. Every record
 * logged meanwhile carries the agent's and the task's ids, and once claimed, the attempt's.
 */
export async function processMessage(options: ConsumerOptions, body: string, limits: InvocationLimits) {
  let message: TaskMessage;
  try {
    message = TaskMessageSchema.parse(JSON.parse(body));
  } catch {
    options.logger.error("malformed message dropped", { agentId: options.agentId, bodyBytes: body.length });
    return;
  }
  const ids = { agentId: options.agentId, taskId: message.taskId };
  return withLogContext(ids, () => inSpan(`task ${message.taskId}`, ids, () => deliver(options, message, limits)));
}

async function deliver(options: ConsumerOptions, message: TaskMessage, limits: InvocationLimits) {
  const { ctx } = options;
  const remainingMs = limits.getRemainingTimeInMillis();
  const leaseUntil = new Date(ctx.now().getTime() + remainingMs + LEASE_MARGIN_MS).toISOString();
  const record = await claim(options, message, leaseUntil);
  if (!record) return;
  return withLogContext(attemptKeys(record, record.attempts), () => runAttempt(options, record, limits));
}

async function runAttempt(options: ConsumerOptions, record: TaskRecord, limits: InvocationLimits) {
  const { ctx, logger } = options;
  await heartbeat(ctx, record.taskToken);

  const log = new TaskLogs.AttemptLogBuffer(record.attempts, ctx.now);
  let quiet = false;
  const outcome = await TaskLogs.collecting(log, async () => {
    const logger = TaskLogs.capturing(options.logger);
    const context = { taskId: record.id, action: record.action, attempt: record.attempts };
    // Kept with the attempt (captured whatever the level); at DEBUG, the function's own log stays quiet on success.
    logger.debug(TaskLogs.startLine(record.attempts, record.maxAttempts, record.action), context);
    const started = Date.now();
    const before = log.written;
    const result = await run(options, record, limits);
    quiet = log.written === before;
    const ms = Date.now() - started;
    if (result.ok) logger.debug(TaskLogs.successLine(record.attempts, ms), context);
    else
      logger.warn(
        `attempt ${record.attempts} failed in ${ms} ms: ${result.error.code}: ${result.error.message}`,
        context,
      );
    return result;
  });
  // An attempt that succeeded with its action logging nothing stores no lines: its task's events tell them.
  if (!(outcome.ok && quiet)) {
    await TaskLogs.save(ctx, record.id, log).catch((error: unknown) => {
      logger.warn("the attempt's log could not be stored", { taskId: record.id, error });
    });
  }
  if (!outcome.ok) {
    await failAttempt(options, record, outcome.error);
    return;
  }
  if (await succeedAttempt(ctx, record, outcome.result, undefined, outcome.text)) {
    logger.info("task succeeded", { action: record.action });
  } else {
    logger.warn("result discarded: the task changed while it ran", { taskId: record.id });
  }
}

/** Runs the claimed attempt's action on its params (loaded from object storage when kept there); checks the result. */
async function run(options: ConsumerOptions, record: TaskRecord, limits: InvocationLimits): Promise<CheckedResult> {
  const handler = options.handlers[record.action];
  if (!handler) {
    return {
      ok: false,
      error: { code: "unknown_action", message: `this agent cannot run '${record.action}'`, retriable: false },
    };
  }
  let params: unknown;
  try {
    params = await Payloads.paramsOf(options.ctx, record);
  } catch (error) {
    // A stored payload that is gone or altered: a retry cannot help. Anything else is a fault (redelivery).
    if (error instanceof NexusError)
      return { ok: false, error: { code: error.code, message: error.message, retriable: false } };
    throw error;
  }
  // Leave a little of the invocation for the final write.
  const timeoutMs = Math.max(1000, Math.min(record.timeoutSeconds * 1000, limits.getRemainingTimeInMillis() - 5000));
  const attempt = { taskId: record.id, attempt: record.attempts };
  const attemptLog = options.attemptLog;
  const tee = attemptLog ? { tee: (logged: LogRecord) => attemptLog(attempt, logged) } : {};
  try {
    const result = await withLogContext(
      {},
      () =>
        runWithTimeout(
          handler,
          params,
          { ...attempt, maxAttempts: record.maxAttempts, logger: options.logger.createChild() },
          timeoutMs,
        ),
      tee,
    );
    return checkResult(result ?? null);
  } catch (error) {
    return { ok: false, error: toTaskError(error) };
  }
}

/**
 * The SQS consumer of one agent: processes a batch (records concurrently) and reports partial batch failures,
 * so one record's infrastructure fault never loses or repeats the others.
 */
export function createConsumer(options: ConsumerOptions) {
  return async (event: SQSEvent, limits: InvocationLimits): Promise<SQSBatchResponse> => {
    const processor = new BatchProcessor(EventType.SQS);
    const recordHandler = async (record: SQSRecord) => {
      try {
        await processMessage(options, record.body, limits);
      } catch (error) {
        options.logger.error("record failed; it will be redelivered", { messageId: record.messageId, error });
        throw error;
      }
    };
    // The batch's events in the change feed are written together, all before the batch is reported done.
    return Events.gathering(options.ctx, () =>
      processPartialResponse(event, recordHandler, processor, { throwOnFullBatchFailure: false }),
    );
  };
}
