/**
 * The HTTP API: the bootstrap admin key, the API function (the Hono app, packages/api) with its role, and the HTTP API
 * whose single `$default` route proxies to it.
 */
import { RemovalPolicy } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { NagSuppressions } from "cdk-nag";
import { Api, type Stack } from "sst/constructs";
import { apiBundling } from "./bundling.js";
import { nexusFunction, readSecrets } from "./functions.js";
import type { NexusParts } from "./Nexus.js";
import { apiCors, apiReservedConcurrency, apiSettingsEnv } from "./settings.js";

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

export function addApi(
  stack: Stack,
  {
    app,
    ephemeral,
    queues,
    consumers,
    tableAccess,
    plans,
  }: Pick<NexusParts, "app" | "ephemeral" | "queues" | "consumers" | "tableAccess" | "plans">,
) {
  const { agents, builtinQueueArns, builtinQueueAndDlqArns, customQueueArns, customQueueSuppression } = queues;
  const { builtinConsumers, mappingArns, forApi } = consumers;
  const { stateMachineArn, executionArns, executionsSuppression, taskResults } = plans;

  // ── Bootstrap admin key ────────────────────────────────────────────────────────────────────────
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
  const agentsApiEnv: Record<string, string> = {};
  for (const { environment } of forApi) {
    for (const [name, value] of Object.entries(environment ?? {})) {
      if (name in agentsApiEnv) throw new Error(`Two built-in agents give the API function ${name}`);
      agentsApiEnv[name] = value;
    }
  }
  const reservedConcurrentExecutions = apiReservedConcurrency(process.env);
  const apiFunction = nexusFunction(stack, "ApiFunction", {
    handler: "functions/api.handler",
    nodejs: apiBundling(),
    memorySize: 512,
    timeout: 29,
    // Off unless the deploying shell sets it (see apiReservedConcurrency).
    ...(reservedConcurrentExecutions ? { reservedConcurrentExecutions } : {}),
    environment: {
      ...agentsApiEnv,
      NEXUS_ADMIN_KEY_SECRET: adminKeySecret.secretArn,
      NEXUS_BUILTIN_CONSUMERS: builtinConsumers,
      NEXUS_STATE_MACHINE_ARN: stateMachineArn,
      // Read at synth time from the deploying shell; absent unless set.
      ...apiSettingsEnv(process.env),
    },
  });
  apiFunction.addToRolePolicy(readSecrets(adminKeySecret));
  // BatchWriteItem: a submitted task with its audit record, a new plan with its steps; BatchGetItem: a plan's tasks;
  // DeleteItem: a deleted custom agent's record and its name guard (its tasks stay); Scan: a backup export (admins only).
  apiFunction.addToRolePolicy(
    tableAccess("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchWriteItem", "BatchGetItem", "Scan"),
  );
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["sqs:SendMessage", "sqs:GetQueueAttributes"], resources: builtinQueueArns }),
  );
  // An agent's health shows its DLQ's depth too (custom agents' DLQs: the prefix statement below).
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["sqs:GetQueueAttributes"], resources: agents.map(({ dlq }) => dlq.queueArn) }),
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
  // Deleting a custom agent deletes its queues.
  apiFunction.addToRolePolicy(new iam.PolicyStatement({ actions: ["sqs:DeleteQueue"], resources: [customQueueArns] }));
  // Remote workers of custom agents claim tasks through the API: it receives from their queue and deletes what it
  // claimed (built-in queues are refused in code and denied below).
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage"], resources: [customQueueArns] }),
  );
  // The prefix pattern above also matches the built-in queues: keep their CloudFormation-owned settings safe.
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({
      effect: iam.Effect.DENY,
      actions: [
        "sqs:CreateQueue",
        "sqs:SetQueueAttributes",
        "sqs:TagQueue",
        "sqs:DeleteQueue",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
      ],
      resources: builtinQueueAndDlqArns,
    }),
  );
  // Deactivating a built-in agent turns its consumer (event source mapping) off; reactivating, on.
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ["lambda:UpdateEventSourceMapping"],
      resources: mappingArns,
    }),
  );
  // Plans: the API starts a plan's run and stops it (cancel, or a run superseded); approve/reject release an approval
  // gate, and cancelling a plan step's task fails that step.
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["states:StartExecution"], resources: [stateMachineArn] }),
  );
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ["states:StopExecution", "states:DescribeExecution"],
      resources: [executionArns],
    }),
  );
  // A remote worker's task reports like an agent function's: its outcome, and a heartbeat when its lease is extended.
  apiFunction.addToRolePolicy(taskResults("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"));
  for (const { statements } of forApi) for (const statement of statements ?? []) apiFunction.addToRolePolicy(statement);
  NagSuppressions.addResourceSuppressions(
    apiFunction.role ?? apiFunction,
    [
      customQueueSuppression,
      executionsSuppression("the API may stop and describe"),
      ...forApi.flatMap(({ roleSuppressions }) => roleSuppressions ?? []),
    ],
    true,
  );

  const api = new Api(stack, "Api", {
    routes: { $default: { function: apiFunction } },
    // Off unless NEXUS_CORS_ORIGINS allows origins; API Gateway then answers preflights itself.
    cors: apiCors(process.env),
    accessLog: { retention: "one_month", format: ACCESS_LOG_FORMAT },
    defaults: { throttle: { burst: 100, rate: 50 } },
  });
  NagSuppressions.addResourceSuppressions(
    api,
    [
      {
        id: "AwsSolutions-APIG4",
        reason:
          "The single $default route proxies to the Hono app, which authenticates every request itself (API keys stored hashed in DynamoDB, bootstrap admin key in Secrets Manager) and serves its public routes (health, OpenAPI document, the dashboard's and the API docs' static pages and files) without a key.",
      },
    ],
    true,
  );
  return { api, apiFunction, adminKeySecret };
}
