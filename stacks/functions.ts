/**
 * What every Nexus function is made of: an SST function with a log group and a role of its own. Also SST's own
 * custom resource handler, brought in line with them.
 */
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { NagSuppressions } from "cdk-nag";
import { type FunctionProps, Function as SstFunction, type Stack } from "sst/constructs";
import { NODEJS_BUNDLING } from "./bundling.js";

/** Retention of every log group the stack creates (functions', the plan state machine's). */
export const LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

/**
 * An SST function with its own log group (retention set) and its own role that can write only to that group.
 * No AWS managed policy is attached; callers add exactly the statements the function needs. Bundled as
 * {@link NODEJS_BUNDLING} says (split into chunks, minified).
 */
export function nexusFunction(stack: Stack, id: string, props: FunctionProps & { handler: string }): SstFunction {
  const logGroup = new logs.LogGroup(stack, `${id}Logs`, { retention: LOG_RETENTION });
  const role = new iam.Role(stack, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
    description: `Execution role of ${id} (${props.handler})`,
  });
  logGroup.grantWrite(role);
  const fn = new SstFunction(stack, id, { ...props, nodejs: { ...NODEJS_BUNDLING, ...props.nodejs }, role, logGroup });
  NagSuppressions.addResourceSuppressions(
    role,
    [
      {
        id: "AwsSolutions-IAM5",
        reason:
          'Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level permissions (Resource "*"). tests/stacks/security.test.ts checks that "*" resources carry only xray actions.',
        appliesTo: ["Resource::*"],
      },
    ],
    true,
  );
  return fn;
}

/** Reading secrets' values, as Powertools' SecretsProvider does (GetSecretValue only). */
export const readSecrets = (...secrets: secretsmanager.ISecret[]) =>
  // Not `grantRead`: that also adds secretsmanager:DescribeSecret, which Powertools' SecretsProvider does not call.
  // The secrets use the AWS managed key, so no kms:Decrypt grant either.
  new iam.PolicyStatement({
    actions: ["secretsmanager:GetSecretValue"],
    resources: secrets.map((secret) => secret.secretArn),
  });

/**
 * SST's per-stack custom resource handler (used for sourcemap upload on deploy): SST pins it to nodejs22.x; run it on
 * the same (newest) runtime as everything else. Its role is created by SST with the AWSLambdaBasicExecutionRole
 * managed policy.
 */
export function alignSstCustomResourceHandler(stack: Stack): void {
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
}
