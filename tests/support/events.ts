import type { APIGatewayProxyEventV2, SQSEvent, SQSRecord } from "aws-lambda";

/** An HTTP API (payload v2) event, as API Gateway hands the API function a request with a JSON body. */
export function httpApiEvent(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): APIGatewayProxyEventV2 {
  const [rawPath, rawQueryString = ""] = path.split("?");
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: rawPath ?? path,
    rawQueryString,
    headers: { host: "api.example.com", "content-type": "application/json", ...headers },
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
