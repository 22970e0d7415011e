import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import * as z from "zod";
import type { Context } from "./context.js";
import { ConflictError } from "./errors.js";
import { pure } from "./pure.js";
import type { QueueRef, TaskError } from "./schemas.js";
import { traceAttributes } from "./trace.js";

/** A message on an agent queue names the task; everything else is read from the table. */
export interface TaskMessage {
  taskId: string;
  /** The attempt this delivery is meant to run; lets the consumer claim the task with one conditional write. */
  attempt?: number;
}

/** A task message as a consumer (the Lambda worker, a remote claim) reads it off the queue. */
export const TaskMessageSchema = /* @__PURE__ */ pure(() =>
  z.object({
    taskId: z.string().min(1).max(64),
    attempt: z.number().int().min(1).optional(),
  }),
);

/** What lands in an agent's DLQ when a task's attempts run out or it fails for good. */
export interface DeadLetter {
  taskId: string;
  agentId: string;
  action: string;
  attempts: number;
  error: TaskError;
  failedAt: string;
}

/** Consumer timeout for custom agents' queues; their visibility timeout is six times it, as for built-ins. */
export const CUSTOM_AGENT_TIMEOUT_SECONDS = 60;
export const MAX_RECEIVE_COUNT = 5;

async function queueArn(ctx: Context, url: string): Promise<string> {
  const out = await ctx.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }));
  const arn = out.Attributes?.QueueArn;
  if (!arn) throw new Error(`queue ${url} has no ARN`);
  return arn;
}

/** Deletes a custom agent's queue and DLQ (gone already is fine). */
export async function deleteAgentQueues(ctx: Context, queue: QueueRef): Promise<void> {
  for (const url of [queue.url, queue.dlqUrl]) {
    try {
      await ctx.sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
    } catch (error) {
      if (!/NonExistentQueue|QueueDoesNotExist/.test((error as Error).name)) throw error;
    }
  }
}

/** Creates (or finds, CreateQueue is idempotent) a custom agent's queue and its DLQ. */
export async function createAgentQueues(ctx: Context, agentId: string): Promise<QueueRef> {
  try {
    return await createQueues(ctx, agentId);
  } catch (error) {
    if ((error as Error).name === "QueueDeletedRecently") {
      throw new ConflictError(
        "queue_recently_deleted",
        `the queues of a deleted agent named '${agentId}' are still being removed; register it again in a minute`,
      );
    }
    throw error;
  }
}

async function createQueues(ctx: Context, agentId: string): Promise<QueueRef> {
  const name = `${ctx.queuePrefix}${agentId}`;
  const tags = { "nexus:agent": agentId };
  const dlq = await ctx.sqs.send(
    new CreateQueueCommand({
      QueueName: `${name}-dlq`,
      Attributes: { MessageRetentionPeriod: String(14 * 24 * 3600), SqsManagedSseEnabled: "true" },
      tags,
    }),
  );
  if (!dlq.QueueUrl) throw new Error(`CreateQueue returned no URL for ${name}-dlq`);
  const dlqArn = await queueArn(ctx, dlq.QueueUrl);
  const queue = await ctx.sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        VisibilityTimeout: String(6 * CUSTOM_AGENT_TIMEOUT_SECONDS),
        MessageRetentionPeriod: String(4 * 24 * 3600),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: MAX_RECEIVE_COUNT }),
        SqsManagedSseEnabled: "true",
      },
      tags,
    }),
  );
  if (!queue.QueueUrl) throw new Error(`CreateQueue returned no URL for ${name}`);
  return { url: queue.QueueUrl, arn: await queueArn(ctx, queue.QueueUrl), dlqUrl: dlq.QueueUrl, dlqArn };
}

/** Sends a task to its agent's queue, with the current trace header (trace.ts) when there is a trace. */
export async function sendTaskMessage(ctx: Context, queueUrl: string, body: TaskMessage, delaySeconds = 0) {
  const trace = traceAttributes();
  await ctx.sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: JSON.stringify(body),
      DelaySeconds: Math.min(900, Math.max(0, Math.round(delaySeconds))),
      ...(trace ? { MessageSystemAttributes: trace } : {}),
    }),
  );
}

/**
 * Sends task messages to one queue, 10 per request (SendMessageBatch). Returns the tasks whose message the queue did
 * not take (an entry it failed, or a whole request that failed): they stay queued in the table, and the sweeper
 * re-sends them.
 */
export async function sendTaskMessages(ctx: Context, queueUrl: string, bodies: TaskMessage[]): Promise<string[]> {
  const trace = traceAttributes();
  const missed: string[] = [];
  for (let start = 0; start < bodies.length; start += 10) {
    const chunk = bodies.slice(start, start + 10);
    try {
      const out = await ctx.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((body, i) => ({
            Id: String(i),
            MessageBody: JSON.stringify(body),
            ...(trace ? { MessageSystemAttributes: trace } : {}),
          })),
        }),
      );
      for (const failed of out.Failed ?? []) {
        const body = chunk[Number(failed.Id)];
        if (body) missed.push(body.taskId);
      }
    } catch {
      missed.push(...chunk.map((body) => body.taskId));
    }
  }
  return missed;
}

export async function sendDeadLetter(ctx: Context, dlqUrl: string, letter: DeadLetter) {
  await ctx.sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: JSON.stringify(letter) }));
}
