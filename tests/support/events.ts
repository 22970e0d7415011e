import type { APIGatewayProxyEventV2, Context as LambdaContext, SQSEvent, SQSRecord } from "aws-lambda";

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

/** What Lambda passes a handler with each invocation (the parts Nexus reads). */
export const lambdaContext = (remainingMs = 60_000) =>
  ({
    functionName: "nexus-test",
    awsRequestId: crypto.randomUUID(),
    getRemainingTimeInMillis: () => remainingMs,
  }) as unknown as LambdaContext;

/** An API Gateway HTTP API (payload v2) event, with `key` as its bearer key. */
export function apiGatewayEvent(method: string, path: string, body: unknown, key: string): APIGatewayProxyEventV2 {
  const [rawPath, rawQueryString = ""] = path.split("?");
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: rawPath ?? path,
    rawQueryString,
    headers: { host: "api.example.com", "content-type": "application/json", authorization: `Bearer ${key}` },
    requestContext: {
      accountId: "123456789012",
      apiId: "api",
      domainName: "api.example.com",
      domainPrefix: "api",
      http: { method, path: rawPath ?? path, protocol: "HTTP/1.1", sourceIp: "192.0.2.1", userAgent: "test" },
      requestId: crypto.randomUUID(),
      routeKey: "$default",
      stage: "$default",
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    isBase64Encoded: false,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  };
}
