/**
 * Schedules. Each Nexus schedule is an EventBridge Scheduler schedule in one group, created, changed and deleted by the
 * API (packages/core/src/schedules/triggers.ts). It invokes the schedule function with {scheduleId, scheduledAt},
 * through a role that may invoke that function only. Deliveries that fail after the scheduler's retries, and
 * invocations the function fails after Lambda's asynchronous retries, land in one dead-letter queue. The function, the
 * role and the queue are named after the group (packages/core/src/schedules/names.ts): the API is told the group's ARN
 * only.
 */
import { Duration } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { NagSuppressions } from "cdk-nag";
import type { Function as SstFunction, Stack } from "sst/constructs";
import { scheduleDlqName, scheduleFunctionName, schedulerRoleName } from "../packages/core/src/schedules/names.js";
import { nexusFunction } from "./functions.js";
import type { NexusParts } from "./Nexus.js";
import { apiSettingsEnv, escapeRegex, scheduleGroupName } from "./settings.js";

/** The schedule group, function, role and DLQ; and the API's grants to keep the group's schedules. */
export function addSchedules(
  stack: Stack,
  {
    app,
    queues,
    tableAccess,
    plans,
    apiFunction,
  }: Pick<NexusParts, "app" | "queues" | "tableAccess" | "plans"> & { apiFunction: SstFunction },
) {
  const { customQueueSuppression } = queues;
  const { stateMachineArn } = plans;
  const schedulesGroup = scheduleGroupName(app.name, app.stage);
  const scheduleGroup = new scheduler.CfnScheduleGroup(stack, "ScheduleGroup", { name: schedulesGroup });
  const scheduleGroupArn = stack.formatArn({
    service: "scheduler",
    resource: "schedule-group",
    resourceName: schedulesGroup,
  });
  const groupSchedulesArn = stack.formatArn({
    service: "scheduler",
    resource: "schedule",
    resourceName: `${schedulesGroup}/*`,
  });
  const scheduleDlq = new sqs.Queue(stack, "ScheduleDlq", {
    queueName: scheduleDlqName(schedulesGroup),
    retentionPeriod: Duration.days(14),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  });
  NagSuppressions.addResourceSuppressions(scheduleDlq, [
    {
      id: "AwsSolutions-SQS3",
      reason:
        "This queue is itself a dead-letter queue: of the EventBridge Scheduler schedules' failed deliveries and of the schedule function's failed asynchronous invocations.",
    },
  ]);
  const { NEXUS_DAILY_CAPS: dailyCaps } = apiSettingsEnv(process.env);
  const scheduleFunction = nexusFunction(stack, "ScheduleFunction", {
    handler: "functions/schedule.handler",
    functionName: scheduleFunctionName(schedulesGroup),
    memorySize: 512,
    timeout: 30,
    // Lambda retries a failed invocation twice (a run is idempotent per schedule and time), then dead-letters it.
    retryAttempts: 2,
    deadLetterQueue: scheduleDlq,
    environment: {
      NEXUS_STATE_MACHINE_ARN: stateMachineArn,
      // A task run spends the same daily caps as a task submitted through the API.
      ...(dailyCaps ? { NEXUS_DAILY_CAPS: dailyCaps } : {}),
    },
  });
  // BatchWriteItem: a plan run's plan and steps (packages/core/src/plans/store.ts).
  scheduleFunction.addToRolePolicy(tableAccess("GetItem", "PutItem", "UpdateItem", "Query", "BatchWriteItem"));
  // A task run is a task on a built-in or custom agent's queue; a plan run starts an execution.
  scheduleFunction.addToRolePolicy(queues.sendToAgentQueues());
  scheduleFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["states:StartExecution"], resources: [stateMachineArn] }),
  );
  NagSuppressions.addResourceSuppressions(scheduleFunction.role ?? scheduleFunction, [customQueueSuppression], true);
  // Assumed by EventBridge Scheduler for this group's schedules only (confused deputy: source account and group).
  const schedulerRole = new iam.Role(stack, "SchedulerRole", {
    roleName: schedulerRoleName(schedulesGroup),
    assumedBy: new iam.ServicePrincipal("scheduler.amazonaws.com", {
      conditions: {
        StringEquals: { "aws:SourceAccount": stack.account },
        ArnEquals: { "aws:SourceArn": scheduleGroupArn },
      },
    }),
    description: `EventBridge Scheduler's role for the ${schedulesGroup} schedules: invokes the schedule function`,
  });
  schedulerRole.addToPolicy(
    new iam.PolicyStatement({ actions: ["lambda:InvokeFunction"], resources: [scheduleFunction.functionArn] }),
  );
  schedulerRole.addToPolicy(
    new iam.PolicyStatement({ actions: ["sqs:SendMessage"], resources: [scheduleDlq.queueArn] }),
  );
  // The API keeps the group's schedules in step with the records, passing the scheduler exactly its role.
  apiFunction.addEnvironment("NEXUS_SCHEDULE_GROUP_ARN", scheduleGroupArn);
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: [
        "scheduler:CreateSchedule",
        "scheduler:UpdateSchedule",
        "scheduler:DeleteSchedule",
        "scheduler:GetSchedule",
      ],
      resources: [groupSchedulesArn],
    }),
  );
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ["iam:PassRole"],
      resources: [schedulerRole.roleArn],
      conditions: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
    }),
  );
  NagSuppressions.addResourceSuppressions(
    apiFunction.role ?? apiFunction,
    [
      {
        id: "AwsSolutions-IAM5",
        reason: `Schedules are created at runtime, one per Nexus schedule, named by its id: the API may create, update, delete and read the schedules of the ${schedulesGroup} group only.`,
        appliesTo: [
          {
            regex: `/^Resource::arn:<AWS::Partition>:scheduler:[^:]+:[^:]+:schedule\\/${escapeRegex(schedulesGroup)}\\/\\*$/`,
          },
        ],
      },
    ],
    true,
  );
  stack.addOutputs({ ScheduleGroupName: scheduleGroup.ref, ScheduleDlqUrl: scheduleDlq.queueUrl });
  return { scheduleGroup, scheduleFunction, schedulerRole, scheduleDlq };
}
