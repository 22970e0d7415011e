/**
 * The local queue poller plays an SQS event source mapping with its scaling: at most `concurrency` invocations at once,
 * batches of at most `batchSize`, gathered for up to the batching window. Against the local SQS the runtime uses.
 */

import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import { createLogger } from "@nexus/core";
import { type Emulator, QueuePoller, startSqs } from "@nexus/local";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

let sqsServer: Emulator;
let sqs: SQSClient;
const pollers: QueuePoller[] = [];

beforeAll(async () => {
  sqsServer = await startSqs();
  sqs = new SQSClient({
    region: "us-east-1",
    endpoint: sqsServer.endpoint,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
});
afterEach(async () => {
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
});
afterAll(async () => {
  sqs.destroy();
  await sqsServer.stop();
});

let queues = 0;
/** A new queue holding `count` messages, numbered from 0. */
async function queueWith(count: number) {
  const { QueueUrl: url = "" } = await sqs.send(new CreateQueueCommand({ QueueName: `poller-${++queues}` }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }));
  for (let first = 0; first < count; first += 10) {
    const entries = Array.from({ length: Math.min(10, count - first) }, (_, i) => ({
      Id: String(first + i),
      MessageBody: String(first + i),
    }));
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
  }
  return { url, arn: Attributes?.QueueArn ?? "" };
}

/** A handler that holds each batch `holdMs` and records the invocations running at once and each batch's messages. */
function recorder(holdMs: number) {
  const seen = { running: 0, maxRunning: 0, batches: [] as string[][] };
  const handler = async (event: SQSEvent) => {
    seen.running++;
    seen.maxRunning = Math.max(seen.maxRunning, seen.running);
    seen.batches.push(event.Records.map((record) => record.body));
    await new Promise((resolve) => setTimeout(resolve, holdMs));
    seen.running--;
    return { batchItemFailures: [] };
  };
  return { seen, handler, handled: () => seen.batches.flat().length };
}

function startPoller(
  queue: { url: string; arn: string },
  handler: (event: SQSEvent) => Promise<SQSBatchResponse>,
  options: { concurrency: number; batchSize: number; batchingWindowSeconds?: number },
) {
  const poller = new QueuePoller({
    sqs,
    queueUrl: queue.url,
    queueArn: queue.arn,
    handler,
    logger: createLogger("nexus-test", { level: "SILENT" }),
    ...options,
  });
  poller.start();
  pollers.push(poller);
  return poller;
}

async function until(condition: () => boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("local queue poller scaling", () => {
  it.each([1, 3])("runs at most %i invocations at once, and that many when the queue is deep", async (concurrency) => {
    const queue = await queueWith(24);
    const { seen, handler, handled } = recorder(150);
    startPoller(queue, handler, { concurrency, batchSize: 2 });

    await until(() => handled() === 24);

    expect(seen.maxRunning).toBe(concurrency);
    expect(Math.max(...seen.batches.map((batch) => batch.length))).toBeLessThanOrEqual(2);
    expect(
      seen.batches
        .flat()
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 24 }, (_, i) => i));
  });

  it("gathers batches over 10 messages within the batching window, never over the batch size", async () => {
    const queue = await queueWith(60);
    const { seen, handler, handled } = recorder(10);
    startPoller(queue, handler, { concurrency: 1, batchSize: 25, batchingWindowSeconds: 1 });

    await until(() => handled() === 60);

    expect(seen.batches.map((batch) => batch.length)).toEqual([25, 25, 10]);
  });
});
