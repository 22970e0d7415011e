/**
 * Published on-demand prices of what Nexus uses, us-east-1, in US dollars: the one place the cost estimates (cost.ts,
 * the bench's cost phase) take them from. Free tiers and volume discounts are left out (API Gateway's first price
 * tier runs to 300 million requests a month). Checked against the pages below; DynamoDB's are those after its
 * 2024-11-01 on-demand reduction.
 */
export const PRICES = {
  region: "us-east-1",
  asOf: "2024-11",
  /** HTTP API, per request (first 300 million a month). */
  apiGatewayHttpRequest: 1.0 / 1e6,
  /** Lambda, per request (invocation). */
  lambdaRequest: 0.2 / 1e6,
  /** Lambda, per GB-second of duration (billed per ms), by architecture. */
  lambdaGbSecond: { arm64: 0.0000133334, x86_64: 0.0000166667 },
  /** DynamoDB on-demand, per write request unit (1 KB of an item or of an index entry written). */
  dynamodbWriteUnit: 0.625 / 1e6,
  /** DynamoDB on-demand, per read request unit (4 KB read strongly consistent; eventually consistent: half). */
  dynamodbReadUnit: 0.125 / 1e6,
  /** SQS standard queue, per request (each 64 KB chunk of a payload is a request). */
  sqsRequest: 0.4 / 1e6,
  /** Step Functions Standard workflows, per state transition. */
  stepFunctionsTransition: 0.025 / 1000,
  /** CloudWatch Logs, per GB ingested (standard log class). */
  logsIngestedGb: 0.5,
  /** S3 Standard, per PUT (and COPY, POST, LIST) request and per GET request. */
  s3Put: 0.005 / 1000,
  s3Get: 0.0004 / 1000,
  /** X-Ray, per trace recorded (functions are traced; the default sampling rule records 1 a second and 5 % beyond). */
  xrayTrace: 5.0 / 1e6,
  sources: {
    apiGateway: "https://aws.amazon.com/api-gateway/pricing/",
    lambda: "https://aws.amazon.com/lambda/pricing/",
    dynamodb: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    sqs: "https://aws.amazon.com/sqs/pricing/",
    stepFunctions: "https://aws.amazon.com/step-functions/pricing/",
    cloudwatchLogs: "https://aws.amazon.com/cloudwatch/pricing/",
    s3: "https://aws.amazon.com/s3/pricing/",
    xray: "https://aws.amazon.com/xray/pricing/",
  },
} as const;

export type Architecture = keyof typeof PRICES.lambdaGbSecond;
