/**
 * Plans: the state machine that runs a plan's steps (packages/core/src/plans/plan.asl.json), its runner function, its
 * log group. Its name and ARNs are fixed ({@link planArns}), so that every function that
 * starts, stops or reports to a run can be granted it before it exists.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { ArnFormat, RemovalPolicy } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";
import * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { type NagPackSuppression, NagSuppressions } from "cdk-nag";
import type { App, Stack } from "sst/constructs";
import { useProject } from "sst/project.js";
import { LOG_RETENTION, nexusFunction } from "./functions.js";
import type { NexusParts } from "./Nexus.js";
import { escapeRegex, planStateMachineName } from "./settings.js";

/** The plan state machine's definition (Amazon States Language, JSONPath), relative to the project root. */
export const PLAN_ASL_FILE = "packages/core/src/plans/plan.asl.json";
/** The definition's only placeholder (`${PlanRunnerArn}`), substituted by CloudFormation with the runner's ARN. */
export const PLAN_RUNNER_PLACEHOLDER = "PlanRunnerArn";

/**
 * The plan definition as deployed: the file's JSON, minified. Fails the synth when the file is not JSON or has a
 * placeholder other than `${PlanRunnerArn}` (CloudFormation would leave it in place, and Step Functions reject it).
 */
export function planDefinitionBody(root: string): string {
  const text = readFileSync(path.join(root, PLAN_ASL_FILE), "utf8");
  const placeholders = new Set([...text.matchAll(/\$\{([^}]*)\}/g)].map(([, name]) => name));
  const unknown = [...placeholders].filter((name) => name !== PLAN_RUNNER_PLACEHOLDER);
  if (unknown.length > 0 || !placeholders.has(PLAN_RUNNER_PLACEHOLDER)) {
    throw new Error(
      `${PLAN_ASL_FILE} must use exactly one placeholder, \${${PLAN_RUNNER_PLACEHOLDER}}; found ${JSON.stringify([...placeholders])}`,
    );
  }
  return JSON.stringify(JSON.parse(text));
}

/**
 * The plan state machine's name and ARNs, formatted from its fixed name: the state machine's definition names the plan
 * runner, whose policy (like the API's and the agents') names the state machine, so these must not be references.
 */
export function planArns(stack: Stack, app: App) {
  const stateMachineName = planStateMachineName(app.name, app.stage);
  const stateMachineArn = stack.formatArn({
    service: "states",
    resource: "stateMachine",
    resourceName: stateMachineName,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  const executionArns = stack.formatArn({
    service: "states",
    resource: "execution",
    resourceName: `${stateMachineName}:*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  // Plan runs are executions named at runtime (per plan and run): roles that touch them name that state machine's only.
  const executionsSuppression = (what: string): NagPackSuppression => ({
    id: "AwsSolutions-IAM5",
    reason: `A plan run is an execution of the ${stateMachineName} state machine named at runtime (per plan and run); ${what} that state machine's executions only.`,
    appliesTo: [
      {
        regex: `/^Resource::arn:<AWS::Partition>:states:[^:]+:[^:]+:execution:${escapeRegex(stateMachineName)}:\\*$/`,
      },
    ],
  });
  // Reports a plan step's outcome through its task token. Step Functions authorizes these calls against the state
  // machine of the token's execution.
  const taskResults = (...actions: string[]) =>
    new iam.PolicyStatement({ actions: actions.map((a) => `states:${a}`), resources: [stateMachineArn] });
  return { stateMachineName, stateMachineArn, executionArns, executionsSuppression, taskResults };
}
export type PlanArns = ReturnType<typeof planArns>;

/**
 * The runner is the state machine's only Lambda task: it starts a run, waits for a step's dependencies, dispatches a
 * step as a task on its agent's queue, holds an approval gate, and records each step's and the run's outcome.
 */
export function addPlans(
  stack: Stack,
  { ephemeral, plans, queues, tableAccess }: Pick<NexusParts, "ephemeral" | "plans" | "queues" | "tableAccess">,
) {
  const { stateMachineName, stateMachineArn, taskResults } = plans;
  const { customQueueSuppression } = queues;
  const planRunnerFunction = nexusFunction(stack, "PlanRunnerFunction", {
    handler: "functions/plans.handler",
    memorySize: 512,
    timeout: 30,
    environment: { NEXUS_STATE_MACHINE_ARN: stateMachineArn },
  });
  // BatchGetItem: the tasks of a step's dependencies, whose results its params refer to.
  planRunnerFunction.addToRolePolicy(tableAccess("GetItem", "PutItem", "UpdateItem", "Query", "BatchGetItem"));
  // A dispatched step is a task on a built-in or custom agent's queue.
  planRunnerFunction.addToRolePolicy(queues.sendToAgentQueues());
  // Releases steps whose dependencies are done; fails steps it cannot dispatch.
  planRunnerFunction.addToRolePolicy(taskResults("SendTaskSuccess", "SendTaskFailure"));
  NagSuppressions.addResourceSuppressions(
    planRunnerFunction.role ?? planRunnerFunction,
    [customQueueSuppression],
    true,
  );

  // Every execution event, with its data (ids only: steps, params and results live in the table), kept a month.
  // Under /aws/vendedlogs/ so that Step Functions' log delivery does not grow the account's CloudWatch Logs resource
  // policy with each log group.
  const planLogs = new logs.LogGroup(stack, "PlanStateMachineLogs", {
    logGroupName: `/aws/vendedlogs/states/${stateMachineName}`,
    retention: LOG_RETENTION,
    removalPolicy: ephemeral ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
  });
  const stateMachine = new sfn.StateMachine(stack, "PlanStateMachine", {
    stateMachineName,
    stateMachineType: sfn.StateMachineType.STANDARD,
    definitionBody: sfn.DefinitionBody.fromString(planDefinitionBody(useProject().paths.root)),
    definitionSubstitutions: { [PLAN_RUNNER_PLACEHOLDER]: planRunnerFunction.functionArn },
    logs: { destination: planLogs, level: sfn.LogLevel.ALL, includeExecutionData: true },
    tracingEnabled: true,
    // It holds no data of its own (plans, steps and results are in the table; its logs are retained above), and it
    // goes with the runner its definition names.
    removalPolicy: RemovalPolicy.DESTROY,
  });
  // Its role may invoke the runner (any version or alias of it) and nothing else.
  planRunnerFunction.grantInvoke(stateMachine);
  NagSuppressions.addResourceSuppressions(
    stateMachine.role,
    [
      {
        id: "AwsSolutions-IAM5",
        reason:
          'Step Functions\' log delivery (logs:CreateLogDelivery and the other *LogDelivery, *ResourcePolicies and DescribeLogGroups actions CDK adds for the log group destination) and X-Ray tracing (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) support no resource-level permissions (Resource "*").',
        appliesTo: ["Resource::*"],
      },
      {
        id: "AwsSolutions-IAM5",
        reason:
          "lambda:InvokeFunction on the plan runner's versions and aliases (<runner ARN>:*), as CDK's grantInvoke grants it: the state machine invokes the runner and no other function.",
        appliesTo: [{ regex: "/^Resource::<PlanRunnerFunction[0-9A-F]{8}\\.Arn>:\\*$/" }],
      },
    ],
    true,
  );
  // Its failed runs raise an alarm (stacks/monitoring.ts).
  return { planRunnerFunction, stateMachine, planLogs };
}
