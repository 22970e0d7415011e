import type { Logger } from "@aws-lambda-powertools/logger";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { InvocationLimits } from "@nexus/core";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";

export type BatchHandler = (event: SQSEvent, limits: InvocationLimits) => Promise<SQSBatchResponse>;

export interface PollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  handler: BatchHandler;
  logger: Logger;
  /** Like the event source mapping's BatchSize. */
  batchSize?: number;
  /** Batches handled at once (Lambda scales out concurrent invocations the same way). */
  concurrency?: number;
  /** Like the function's timeout: the handler's deadline per batch. */
  timeoutSeconds?: number;
  /** Long-poll wait per receive. */
  waitSeconds?: number;
}

/**
 * Plays Lambda's SQS event source mapping for one queue: receives batches, invokes the handler with an
 * SQS event, deletes the records it did not report in `batchItemFailures`, and leaves those to reappear
 * after the visibility timeout (and reach the DLQ through the redrive policy).
 */
export class QueuePoller {
  private running = false;
  private paused = false;
  private loops: Promise<void>[] = [];
  private abort = new AbortController();

  constructor(private readonly options: PollerOptions) {}

  get active() {
    return this.running && !this.paused;
  }

  /** Stops taking messages (a batch in flight finishes); the queue keeps the rest, untouched. */
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
    const concurrency = this.options.concurrency ?? 2;
    this.loops = Array.from({ length: concurrency }, () => this.loop());
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
    await Promise.race([Promise.all(this.loops), grace]);
    clearTimeout(timer);
    this.loops = [];
  }

  private async loop() {
    const { sqs, queueUrl, logger } = this.options;
    while (this.running) {
      if (this.paused) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      let records: SQSRecord[];
      try {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: this.options.batchSize ?? 10,
            WaitTimeSeconds: this.options.waitSeconds ?? 1,
            MessageSystemAttributeNames: ["All"],
          }),
          { abortSignal: this.abort.signal },
        );
        records = (out.Messages ?? []).map((m) => this.toRecord(m));
      } catch (error) {
        if (!this.running) return;
        logger.warn("receive failed; retrying", { queueUrl, error });
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (records.length === 0) continue;
      await this.invoke(records);
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
