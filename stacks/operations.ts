/**
 * Operations: the functions that keep Nexus running on a schedule. The sweeper (stuck tasks, agent health, metrics,
 * consumers and plan runs put right), the failures inbox (what waits in the agents' DLQs) and the health probe.
 */
import * as iam from "aws-cdk-lib/aws-iam";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { NagSuppressions } from "cdk-nag";
import { Cron, type Function as SstFunction, type Stack } from "sst/constructs";
import { nexusFunction } from "./functions.js";
import { onFailureToDlq, ruleTarget } from "./monitoring.js";
import type { NexusParts } from "./Nexus.js";
import { escapeRegex } from "./settings.js";

/**
 * A scheduled operation: an EventBridge rule invoking the function on `schedule`. An event EventBridge cannot deliver
 * after its retries, and an invocation the function fails after Lambda's retries, land in the operations DLQ.
 */
function scheduled(stack: Stack, id: string, schedule: `rate(${string})`, fn: SstFunction, operationsDlq: sqs.IQueue) {
  onFailureToDlq(fn, operationsDlq);
  return new Cron(stack, id, { schedule, job: { function: fn, cdk: { target: ruleTarget(operationsDlq) } } });
}

/**
 * Every 5 minutes. Also looks at every agent: records health changes, emits its metrics (EMF in its log, namespace
 * below) and turns a built-in agent's event source mapping back to match the agent's status.
 */
export function addSweeper(
  stack: Stack,
  {
    queues,
    consumers,
    tableAccess,
    plans,
    operationsDlq,
  }: Pick<NexusParts, "queues" | "consumers" | "tableAccess" | "plans"> & { operationsDlq: sqs.IQueue },
) {
  const { builtinQueueAndDlqArns, customQueueArns, customQueueSuppression } = queues;
  const { stateMachineArn, executionArns, executionsSuppression, taskResults } = plans;
  const sweeperFunction = nexusFunction(stack, "SweeperFunction", {
    handler: "functions/sweeper.handler",
    // 512 MB: it peaks near 115 MB (bench heap phase); SST's default is 1,024
    memorySize: 512,
    timeout: 120,
    environment: {
      NEXUS_BUILTIN_CONSUMERS: consumers.builtinConsumers,
      NEXUS_STATE_MACHINE_ARN: stateMachineArn,
    },
  });
  // BatchGetItem: a task listing reads its page's tasks by key (storage/query.ts), as the sweeper's listings do.
  sweeperFunction.addToRolePolicy(tableAccess("Query", "GetItem", "UpdateItem", "PutItem", "BatchGetItem"));
  sweeperFunction.addToRolePolicy(queues.sendToAgentQueues());
  // Queue and DLQ depths of every agent, built-in (named) or custom (by the prefix).
  sweeperFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ["sqs:GetQueueAttributes"],
      resources: [...builtinQueueAndDlqArns, customQueueArns],
    }),
  );
  // Reconciling: reads each built-in agent's event source mapping and switches it back when it disagrees with the
  // agent's status (as the API switches it on deactivate/reactivate); exactly those mappings.
  sweeperFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"],
      resources: consumers.mappingArns,
    }),
  );
  // A task whose last worker vanished is failed by the sweeper; a plan step waiting on it must hear of it. A step whose
  // task waits behind a backlog hears a heartbeat from each sweep.
  sweeperFunction.addToRolePolicy(taskResults("SendTaskFailure", "SendTaskHeartbeat"));
  // Plans: a run whose execution ended without settling the plan (aborted, timed out, failed outside the runner) is
  // settled from DescribeExecution; a plan stored but never started (its API call died in between) is started.
  sweeperFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["states:StartExecution"], resources: [stateMachineArn] }),
  );
  sweeperFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["states:DescribeExecution"], resources: [executionArns] }),
  );
  NagSuppressions.addResourceSuppressions(
    sweeperFunction.role ?? sweeperFunction,
    [customQueueSuppression, executionsSuppression("the sweeper may describe")],
    true,
  );
  const sweeper = scheduled(stack, "Sweeper", "rate(5 minutes)", sweeperFunction, operationsDlq);
  return { sweeper, sweeperFunction };
}

/** Every 5 minutes, moves what waits in every agent's DLQ (built-in by name, custom by the prefix) into the failures inbox. */
export function addFailuresInbox(
  stack: Stack,
  { queues, tableAccess, operationsDlq }: Pick<NexusParts, "queues" | "tableAccess"> & { operationsDlq: sqs.IQueue },
) {
  const { prefix, agents } = queues;
  const failuresFunction = nexusFunction(stack, "FailuresFunction", {
    handler: "functions/failures.handler",
    // 512 MB: it peaks near 115 MB (bench heap phase); SST's default is 1,024
    memorySize: 512,
    timeout: 120,
  });
  failuresFunction.addToRolePolicy(tableAccess("GetItem", "PutItem", "UpdateItem", "Query"));
  const customDlqArns = stack.formatArn({ service: "sqs", resource: `${prefix}*-dlq` });
  failuresFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
      resources: [...agents.map(({ dlq }) => dlq.queueArn), customDlqArns],
    }),
  );
  NagSuppressions.addResourceSuppressions(
    failuresFunction.role ?? failuresFunction,
    [
      {
        id: "AwsSolutions-IAM5",
        reason: `Custom agents' DLQs are created at runtime, named "${prefix}<agentId>-dlq"; the ingester reads and deletes messages of those DLQs only.`,
        appliesTo: [{ regex: `/^Resource::arn:<AWS::Partition>:sqs:[^:]+:[^:]+:${escapeRegex(prefix)}\\*-dlq$/` }],
      },
    ],
    true,
  );
  const failureIngestion = scheduled(stack, "FailureIngestion", "rate(5 minutes)", failuresFunction, operationsDlq);
  return { failureIngestion, failuresFunction };
}

/**
 * Every probe interval, a health task to each active built-in agent (one per agent and interval slot); the agent
 * checks what it depends on and records its heartbeat. Its own function and role: it registers the built-in agents
 * if the API has not yet, and submits tasks to their queues, nothing else.
 */
export function addProbe(
  stack: Stack,
  {
    queues,
    tableAccess,
    probeIntervalMinutes,
    operationsDlq,
  }: Pick<NexusParts, "queues" | "tableAccess"> & { probeIntervalMinutes: number; operationsDlq: sqs.IQueue },
) {
  const { builtinQueueArns } = queues;
  const probeFunction = nexusFunction(stack, "ProbeFunction", {
    handler: "functions/probe.handler",
    // 512 MB: it peaks near 115 MB (bench heap phase); SST's default is 1,024
    memorySize: 512,
    timeout: 60,
  });
  probeFunction.addToRolePolicy(tableAccess("GetItem", "PutItem", "UpdateItem", "Query"));
  probeFunction.addToRolePolicy(new iam.PolicyStatement({ actions: ["sqs:SendMessage"], resources: builtinQueueArns }));
  const probe = scheduled(
    stack,
    "Probe",
    `rate(${probeIntervalMinutes} ${probeIntervalMinutes === 1 ? "minute" : "minutes"})`,
    probeFunction,
    operationsDlq,
  );
  return { probe, probeFunction };
}
