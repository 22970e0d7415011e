import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { InvocationLimits, Logger } from "@nexus/core";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";

export type BatchHandler = (event: SQSEvent, limits: InvocationLimits) => Promise<SQSBatchResponse>;

export interface PollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  handler: BatchHandler;
  logger: Logger;
  /** Like the event source mapping's BatchSize: messages per invocation (default 10; over 10 takes several receives). */
  batchSize?: number;
  /** Like its MaximumBatchingWindowInSeconds: how long to gather a batch once a message is in hand (default 0). */
  batchingWindowSeconds?: number;
  /** Like its MaximumConcurrency: invocations (batches) handled at once (default 2). */
  concurrency?: number;
  /** Like the function's timeout: the handler's deadline per batch. */
  timeoutSeconds?: number;
  /** Long-poll wait per receive. */
  waitSeconds?: number;
}

/** SQS returns at most this many messages per receive. */
const MAX_PER_RECEIVE = 10;
/** How often a batching window looks for more messages. */
const WINDOW_POLL_MS = 50;

/**
 * Plays Lambda's SQS event source mapping for one queue: receives batches, invokes the handler with an
 * SQS event, deletes the records it did not report in `batchItemFailures`, and leaves those to reappear
 * after the visibility timeout (and reach the DLQ through the redrive policy). One receive loop per queue: it takes a
 * batch only while fewer than `concurrency` invocations run, so no more than that many ever overlap.
 */
export class QueuePoller {
  private running = false;
  private paused = false;
  private loop: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private abort = new AbortController();

  constructor(private readonly options: PollerOptions) {}

  get active() {
    return this.running && !this.paused;
  }

  /** Stops taking messages (batches in flight finish); the queue keeps the rest, untouched. */
  pause() {
    this.paused = true;
  }

  resume() {
    this.paused = false;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.loop = this.receiveLoop();
  }

  /**
   * Stops receiving. Batches in flight get `graceMs` to finish; past that they are abandoned, as a killed
   * process would abandon them: their tasks stay `running` until the sweeper recovers them.
   */
  async stop(graceMs = 2000) {
    this.running = false;
    this.abort.abort();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    const drained = (async () => {
      await this.loop;
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    })();
    await Promise.race([drained, grace]);
    clearTimeout(timer);
    this.loop = undefined;
  }

  private async receiveLoop() {
    const concurrency = Math.max(1, this.options.concurrency ?? 2);
    while (this.running) {
      if (this.paused) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      if (this.inFlight.size >= concurrency) {
        await Promise.race(this.inFlight);
        continue;
      }
      const records = await this.receiveBatch();
      if (records.length === 0) continue;
      const invocation: Promise<void> = this.invoke(records).finally(() => this.inFlight.delete(invocation));
      this.inFlight.add(invocation);
    }
  }

  /**
   * One batch: a long poll for the first messages, then, within the batching window, more until the batch is full.
   * Empty when the receive failed (logged) or the poller stopped.
   */
  private async receiveBatch(): Promise<SQSRecord[]> {
    const batchSize = this.options.batchSize ?? 10;
    const records = await this.receive(Math.min(batchSize, MAX_PER_RECEIVE), this.options.waitSeconds ?? 1);
    if (records.length === 0) return records;
    const windowEnds = Date.now() + (this.options.batchingWindowSeconds ?? 0) * 1000;
    while (this.running && records.length < batchSize && Date.now() < windowEnds) {
      await new Promise((r) => setTimeout(r, Math.min(WINDOW_POLL_MS, windowEnds - Date.now())));
      records.push(...(await this.receive(Math.min(batchSize - records.length, MAX_PER_RECEIVE), 0)));
    }
    return records;
  }

  private async receive(max: number, waitSeconds: number): Promise<SQSRecord[]> {
    const { sqs, queueUrl, logger } = this.options;
    try {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: max,
          WaitTimeSeconds: waitSeconds,
          MessageSystemAttributeNames: ["All"],
        }),
        { abortSignal: this.abort.signal },
      );
      return (out.Messages ?? []).map((m) => this.toRecord(m));
    } catch (error) {
      if (!this.running) return [];
      logger.warn("receive failed; retrying", { queueUrl, error });
      await new Promise((r) => setTimeout(r, 500));
      return [];
    }
  }

  private async invoke(records: SQSRecord[]) {
    const { sqs, queueUrl, handler, logger } = this.options;
    const deadline = Date.now() + (this.options.timeoutSeconds ?? 60) * 1000;
    let failed = new Set<string>(records.map((r) => r.messageId));
    try {
      const response = await handler(
        { Records: records },
        { getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) },
      );
      failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch (error) {
      logger.error("batch handler threw; the whole batch will be retried", { queueUrl, error });
    }
    const done = records.filter((r) => !failed.has(r.messageId));
    if (done.length === 0) return;
    try {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
        }),
      );
    } catch (error) {
      logger.warn("delete failed; records will be redelivered", { queueUrl, error });
    }
  }

  private toRecord(message: {
    MessageId?: string;
    ReceiptHandle?: string;
    Body?: string;
    Attributes?: Record<string, string>;
    MD5OfBody?: string;
  }): SQSRecord {
    const attributes = message.Attributes ?? {};
    return {
      messageId: message.MessageId ?? "",
      receiptHandle: message.ReceiptHandle ?? "",
      body: message.Body ?? "",
      attributes: {
        ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? "1",
        SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
        SenderId: attributes.SenderId ?? "local",
        ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: message.MD5OfBody ?? "",
      eventSource: "aws:sqs",
      eventSourceARN: this.options.queueArn,
      awsRegion: "us-east-1",
    };
  }
}
