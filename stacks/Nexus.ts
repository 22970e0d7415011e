import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import * as logs from "aws-cdk-lib/aws-logs";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { NagSuppressions } from "cdk-nag";
import { Api, Cron, type FunctionProps, Function as SstFunction, type Stack, type StackContext } from "sst/constructs";
import { GSIS, gsiKeys, TABLE_KEYS } from "../packages/core/src/storage/table.js";

/** A built-in agent: one queue (+ DLQ) and one consumer function each. Append comms/ops/research/strategy here. */
export interface BuiltinAgent {
  /** Lower-case id; also the queue name suffix and `NEXUS_AGENT_ID`. */
  readonly id: string;
  /** Consumer function timeout, seconds. The queue's visibility timeout is derived from it. */
  readonly timeout: number;
  /** Consumer function memory, MB. */
  readonly memorySize: number;
}

export const BUILTIN_AGENTS: readonly BuiltinAgent[] = [{ id: "diag", timeout: 60, memorySize: 512 }];

/** Receives before SQS moves a message to the DLQ (the agent dead-letters exhausted tasks itself before that). */
export const MAX_RECEIVE_COUNT = 5;
/** AWS guidance for SQS event sources: visibility timeout at least 6x the function timeout. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;
/** Number attribute (epoch seconds) that DynamoDB TTL deletes items by. */
export const TTL_ATTRIBUTE = "expiresAt";
const LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

/** Stages whose data may be thrown away with the stack. Every other stage retains the table. */
export function isEphemeralStage(stage: string): boolean {
  return ["dev", "local", "test"].some((prefix) => stage.startsWith(prefix));
}

/** Queue name prefix shared by built-in and custom agents: `<prefix><agentId>` and `<prefix><agentId>-dlq`. */
export function queuePrefix(appName: string, stage: string): string {
  return `${appName}-${stage}-agent-`;
}

/**
 * HTTP API access log line: who called what and how it went. Deliberately no request header values
 * (Authorization, User-Agent, or the Host header behind `$context.domainName`), no query string and no body.
 * SST's default format includes `$context.identity.userAgent`, a request header, so the stack sets its own.
 */
export const ACCESS_LOG_FORMAT = `{${[
  '"requestId":"$context.requestId"',
  '"requestTime":"$context.requestTime"',
  '"ip":"$context.identity.sourceIp"',
  '"httpMethod":"$context.httpMethod"',
  '"path":"$context.path"',
  '"routeKey":"$context.routeKey"',
  '"protocol":"$context.protocol"',
  // Always numbers, so unquoted (as in SST's default); the rest may be "-" when absent.
  '"status":$context.status',
  '"responseLatency":$context.responseLatency',
  '"responseLength":"$context.responseLength"',
  '"integrationStatus":"$context.integration.status"',
  '"integrationLatency":"$context.integration.latency"',
  '"integrationError":"$context.integrationErrorMessage"',
].join(",")}}`;

/**
 * Optional API settings passed through from the deploying shell (`NEXUS_RATE_LIMIT_PER_MINUTE`, `NEXUS_DAILY_CAPS`),
 * checked here so that a bad value fails the deploy instead of every API cold start
 * (packages/core/src/context.ts parses the same variables). Unset or empty → absent (the API's defaults apply).
 */
export function apiSettingsEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  const rate = env.NEXUS_RATE_LIMIT_PER_MINUTE?.trim();
  if (rate) {
    if (!/^[1-9][0-9]*$/.test(rate)) {
      throw new Error(`NEXUS_RATE_LIMIT_PER_MINUTE must be a positive integer, got ${JSON.stringify(rate)}`);
    }
    out.NEXUS_RATE_LIMIT_PER_MINUTE = rate;
  }
  const caps = env.NEXUS_DAILY_CAPS?.trim();
  if (caps) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(caps);
    } catch {
      throw new Error(`NEXUS_DAILY_CAPS must be JSON, got ${JSON.stringify(caps)}`);
    }
    const valid =
      typeof parsed === "object" &&
      parsed !== null &&
      !Array.isArray(parsed) &&
      Object.values(parsed).every((v) => Number.isInteger(v) && (v as number) >= 0);
    if (!valid) {
      throw new Error(
        `NEXUS_DAILY_CAPS must be a JSON object of non-negative integers by "<agentId>.<action>", got ${caps}`,
      );
    }
    out.NEXUS_DAILY_CAPS = JSON.stringify(parsed);
  }
  return out;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

const pascal = (s: string) =>
  s
    .split(/[^a-zA-Z0-9]+/)
    .filter(Boolean)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join("");

/**
 * An SST function with its own log group (retention set) and its own role that can write only to that group.
 * No AWS managed policy is attached; callers add exactly the statements the function needs.
 */
function nexusFunction(stack: Stack, id: string, props: FunctionProps & { handler: string }): SstFunction {
  const logGroup = new logs.LogGroup(stack, `${id}Logs`, { retention: LOG_RETENTION });
  const role = new iam.Role(stack, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
    description: `Execution role of ${id} (${props.handler})`,
  });
  logGroup.grantWrite(role);
  const fn = new SstFunction(stack, id, { ...props, role, logGroup });
  NagSuppressions.addResourceSuppressions(
    role,
    [
      {
        id: "AwsSolutions-IAM5",
        reason:
          'Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level permissions (Resource "*"). tests/stacks.test.ts checks that "*" resources carry only xray actions.',
        appliesTo: ["Resource::*"],
      },
    ],
    true,
  );
  return fn;
}

export function Nexus({ app, stack }: StackContext) {
  const ephemeral = isEphemeralStage(app.stage);
  const prefix = queuePrefix(app.name, app.stage);

  // ── Table ────────────────────────────────────────────────────────────────────────────────────────
  const STRING = dynamodb.AttributeType.STRING;
  const table = new dynamodb.Table(stack, "Table", {
    partitionKey: { name: TABLE_KEYS.partitionKey, type: STRING },
    sortKey: { name: TABLE_KEYS.sortKey, type: STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    timeToLiveAttribute: TTL_ATTRIBUTE,
    deletionProtection: !ephemeral,
    removalPolicy: ephemeral ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
  });
  for (const name of GSIS) {
    const keys = gsiKeys(name);
    table.addGlobalSecondaryIndex({
      indexName: name,
      partitionKey: { name: keys.partitionKey, type: STRING },
      sortKey: { name: keys.sortKey, type: STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
  }
  // The table and each index by name: no `index/*` wildcard.
  const tableResources = [table.tableArn, ...GSIS.map((name) => `${table.tableArn}/index/${name}`)];
  const tableAccess = (...actions: string[]) =>
    new iam.PolicyStatement({ actions: actions.map((a) => `dynamodb:${a}`), resources: tableResources });

  // ── Built-in agent queues ────────────────────────────────────────────────────────────────────────
  const agents = BUILTIN_AGENTS.map((agent) => {
    if (!/^[a-z][a-z0-9-]*$/.test(agent.id) || agent.id.endsWith("-dlq")) {
      throw new Error(`Invalid built-in agent id "${agent.id}"`);
    }
    const cid = `Agent${pascal(agent.id)}`;
    const dlq = new sqs.Queue(stack, `${cid}Dlq`, {
      queueName: `${prefix}${agent.id}-dlq`,
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    const queue = new sqs.Queue(stack, `${cid}Queue`, {
      queueName: `${prefix}${agent.id}`,
      visibilityTimeout: Duration.seconds(VISIBILITY_TIMEOUT_FACTOR * agent.timeout),
      deadLetterQueue: { queue: dlq, maxReceiveCount: MAX_RECEIVE_COUNT },
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    return { agent, cid, queue, dlq };
  });
  const builtinQueueArns = agents.map(({ queue }) => queue.queueArn);
  const builtinQueueAndDlqArns = agents.flatMap(({ queue, dlq }) => [queue.queueArn, dlq.queueArn]);
  // Queues the API creates at runtime for custom agents (this pattern also matches the built-in ones).
  const customQueueArns = stack.formatArn({ service: "sqs", resource: `${prefix}*` });
  const customQueueSuppression = {
    id: "AwsSolutions-IAM5",
    reason: `Custom agents get queues created at runtime, named "${prefix}<agentId>" and "${prefix}<agentId>-dlq"; their ARNs are unknown at deploy time, so access is scoped to this app's and stage's queue-name prefix.`,
    appliesTo: [{ regex: `/^Resource::arn:<AWS::Partition>:sqs:[^:]+:[^:]+:${escapeRegex(prefix)}\\*$/` }],
  };

  // ── Environment for every function created below ─────────────────────────────────────────────────
  stack.addDefaultFunctionEnv({
    NEXUS_STAGE: app.stage,
    NEXUS_TABLE: table.tableName,
    NEXUS_QUEUE_PREFIX: prefix,
    NEXUS_BUILTIN_QUEUES: stack.toJsonString(
      Object.fromEntries(
        agents.map(({ agent, queue, dlq }) => [
          agent.id,
          { url: queue.queueUrl, arn: queue.queueArn, dlqUrl: dlq.queueUrl, dlqArn: dlq.queueArn },
        ]),
      ),
    ),
  });

  // ── Agent consumers ──────────────────────────────────────────────────────────────────────────────
  const agentFunctions = agents.map(({ agent, cid, queue, dlq }) => {
    const fn = nexusFunction(stack, `${cid}Function`, {
      handler: "functions/agent.handler",
      timeout: agent.timeout,
      memorySize: agent.memorySize,
      environment: { NEXUS_AGENT_ID: agent.id },
    });
    // Also grants receive/delete/change-visibility on this queue only.
    fn.addEventSource(
      new SqsEventSource(queue, {
        batchSize: 10,
        maxBatchingWindow: Duration.seconds(1),
        reportBatchItemFailures: true,
      }),
    );
    fn.addToRolePolicy(tableAccess("GetItem", "PutItem", "UpdateItem", "Query"));
    // Delayed retries go back on its own queue; exhausted tasks go to its own DLQ.
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ["sqs:SendMessage"], resources: [queue.queueArn, dlq.queueArn] }),
    );
    return fn;
  });

  // ── Bootstrap admin key ──────────────────────────────────────────────────────────────────────────
  // A generated value that never appears in the template, the outputs or any function environment:
  // the API function gets the secret's ARN and reads the value at runtime.
  const adminKeySecret = new secretsmanager.Secret(stack, "AdminKeySecret", {
    secretName: `${app.name}/${app.stage}/admin-key`,
    description: `Bootstrap admin API key of ${app.name} (${app.stage}). Send it as "Authorization: Bearer <value>". Rotate by putting a new value (aws secretsmanager put-secret-value); the API re-reads it within 5 minutes.`,
    generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
    removalPolicy: ephemeral ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
  });
  NagSuppressions.addResourceSuppressions(adminKeySecret, [
    {
      id: "AwsSolutions-SMG4",
      reason:
        "Rotation is manual by design: an operator puts a new value and the API re-reads it within 5 minutes (cached Powertools SecretsProvider, maxAge 300 s). An automatic rotation Lambda would invalidate the key operators hold without telling them. Every other API key is created through the API and stored hashed in DynamoDB.",
    },
  ]);

  // ── API ──────────────────────────────────────────────────────────────────────────────────────────
  const apiFunction = nexusFunction(stack, "ApiFunction", {
    handler: "functions/api.handler",
    memorySize: 512,
    timeout: 29,
    environment: {
      NEXUS_ADMIN_KEY_SECRET: adminKeySecret.secretArn,
      // Read at synth time from the deploying shell; absent unless set.
      ...apiSettingsEnv(process.env),
    },
  });
  // Not `grantRead`: that also adds secretsmanager:DescribeSecret, which the API does not call (Powertools'
  // SecretsProvider only calls GetSecretValue). The secret uses the AWS managed key, so no kms:Decrypt grant.
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [adminKeySecret.secretArn] }),
  );
  apiFunction.addToRolePolicy(tableAccess("GetItem", "PutItem", "UpdateItem", "Query"));
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["sqs:SendMessage", "sqs:GetQueueAttributes"], resources: builtinQueueArns }),
  );
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: [
        "sqs:CreateQueue",
        "sqs:GetQueueUrl",
        "sqs:GetQueueAttributes",
        "sqs:SetQueueAttributes",
        "sqs:TagQueue",
        "sqs:SendMessage",
      ],
      resources: [customQueueArns],
    }),
  );
  // The prefix pattern above also matches the built-in queues: keep their CloudFormation-owned settings safe.
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({
      effect: iam.Effect.DENY,
      actions: ["sqs:CreateQueue", "sqs:SetQueueAttributes", "sqs:TagQueue"],
      resources: builtinQueueAndDlqArns,
    }),
  );
  NagSuppressions.addResourceSuppressions(apiFunction.role ?? apiFunction, [customQueueSuppression], true);

  const api = new Api(stack, "Api", {
    routes: { $default: { function: apiFunction } },
    accessLog: { retention: "one_month", format: ACCESS_LOG_FORMAT },
    defaults: { throttle: { burst: 100, rate: 50 } },
  });
  NagSuppressions.addResourceSuppressions(
    api,
    [
      {
        id: "AwsSolutions-APIG4",
        reason:
          "The single $default route proxies to the Hono app, which authenticates every request itself (API keys stored hashed in DynamoDB, bootstrap admin key in Secrets Manager) and serves its public routes (health, OpenAPI document) without a key.",
      },
    ],
    true,
  );

  // ── Sweeper ──────────────────────────────────────────────────────────────────────────────────────
  const sweeperFunction = nexusFunction(stack, "SweeperFunction", {
    handler: "functions/sweeper.handler",
    timeout: 120,
  });
  sweeperFunction.addToRolePolicy(tableAccess("Query", "GetItem", "UpdateItem", "PutItem"));
  sweeperFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["sqs:SendMessage"], resources: [...builtinQueueArns, customQueueArns] }),
  );
  NagSuppressions.addResourceSuppressions(sweeperFunction.role ?? sweeperFunction, [customQueueSuppression], true);
  const sweeper = new Cron(stack, "Sweeper", { schedule: "rate(5 minutes)", job: sweeperFunction });

  // ── SST's per-stack custom resource handler (used for sourcemap upload on deploy) ───────────────
  // SST pins it to nodejs22.x; run it on the same (newest) runtime as everything else. Its role is
  // created by SST with the AWSLambdaBasicExecutionRole managed policy.
  const customResourceHandler = stack.customResourceHandler;
  (customResourceHandler.node.defaultChild as lambda.CfnFunction).runtime = lambda.Runtime.NODEJS_24_X.name;
  NagSuppressions.addResourceSuppressions(
    customResourceHandler,
    [
      {
        id: "AwsSolutions-IAM4",
        reason:
          "SST's internal custom resource handler role is created by SST; AWSLambdaBasicExecutionRole only lets it write its own CloudWatch logs.",
        appliesTo: ["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
      },
    ],
    true,
  );

  stack.addOutputs({
    ApiUrl: api.url,
    TableName: table.tableName,
    // The ARN, not the value: `aws secretsmanager get-secret-value --secret-id <AdminKeySecretArn>`.
    AdminKeySecretArn: adminKeySecret.secretArn,
    ...Object.fromEntries(
      agents.flatMap(({ cid, queue, dlq }) => [
        [`${cid}QueueUrl`, queue.queueUrl],
        [`${cid}DlqUrl`, dlq.queueUrl],
      ]),
    ),
  });

  return { api, table, adminKeySecret, sweeper, apiFunction, sweeperFunction, agentFunctions, agents };
}
