import type { SQSEvent, SQSRecord } from "aws-lambda";

/** A full SQS record, as Lambda's event source mapping delivers it. */
export function sqsRecordFactory(body: unknown, overrides: Partial<SQSRecord> = {}): SQSRecord {
  const id = overrides.messageId ?? crypto.randomUUID();
  return {
    messageId: id,
    receiptHandle: `rh-${id}`,
    body: typeof body === "string" ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: String(Date.now()),
      SenderId: "AIDAEXAMPLE",
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:us-east-1:123456789012:nexus-test-agent-diag",
    awsRegion: "us-east-1",
    ...overrides,
  };
}

export const sqsEvent = (...records: SQSRecord[]): SQSEvent => ({ Records: records });
