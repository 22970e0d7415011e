import { GetQueueAttributesCommand, type QueueAttributeName } from "@aws-sdk/client-sqs";
import type { Context } from "../context.js";
import type { QueueRef } from "../schemas.js";

export interface Depths {
  /** Waiting, in flight and delayed messages of the agent's queue. */
  queueDepth: number | null;
  /** Messages of its dead-letter queue (visible or being read). */
  dlqDepth: number | null;
}

/** Depths not read (lists), or not known. */
export const UNKNOWN_DEPTHS: Depths = { queueDepth: null, dlqDepth: null };

async function countMessages(ctx: Context, url: string, names: QueueAttributeName[]): Promise<number | null> {
  try {
    const out = await ctx.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names }));
    return names.reduce((sum, name) => sum + (Number(out.Attributes?.[name] ?? 0) || 0), 0);
  } catch {
    return null; // the queue is gone, or SQS did not answer: depth unknown
  }
}

/** The depths of an agent's queue and DLQ (SQS's approximate counts); null where SQS did not answer. */
export async function depths(ctx: Context, queue: QueueRef): Promise<Depths> {
  const [queueDepth, dlqDepth] = await Promise.all([
    countMessages(ctx, queue.url, [
      "ApproximateNumberOfMessages",
      "ApproximateNumberOfMessagesNotVisible",
      "ApproximateNumberOfMessagesDelayed",
    ]),
    countMessages(ctx, queue.dlqUrl, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]),
  ]);
  return { queueDepth, dlqDepth };
}

/**
 * Messages of an agent's queue waiting to be received (visible or delayed; not those a consumer holds), or null where
 * SQS did not answer.
 */
export function waitingMessages(ctx: Context, queue: QueueRef): Promise<number | null> {
  return countMessages(ctx, queue.url, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"]);
}
