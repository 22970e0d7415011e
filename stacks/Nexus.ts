import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import * as logs from "aws-cdk-lib/aws-logs";
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

  // ── API ──────────────────────────────────────────────────────────────────────────────────────────
  const apiFunction = nexusFunction(stack, "ApiFunction", {
    handler: "functions/api.handler",
    memorySize: 512,
    timeout: 29,
  });
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
    accessLog: { retention: "one_month" },
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
    ...Object.fromEntries(
      agents.flatMap(({ cid, queue, dlq }) => [
        [`${cid}QueueUrl`, queue.queueUrl],
        [`${cid}DlqUrl`, dlq.queueUrl],
      ]),
    ),
  });

  return { api, table, sweeper, apiFunction, sweeperFunction, agentFunctions, agents };
}
