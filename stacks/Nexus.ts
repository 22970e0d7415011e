/**
 * The Nexus stack: one table, a queue and a consumer per built-in agent, the HTTP API, the scheduled operations
 * (sweeper, failures inbox, health probe), the plan state machine and the schedules. Each part is a function of its
 * file in this folder that takes the pieces it needs and returns those later parts use; this one composes them.
 */
import type { App, StackContext } from "sst/constructs";
import { type AgentConsumers, type AgentQueues, addAgentConsumers, addAgentQueues } from "./agents.js";
import { addApi } from "./api.js";
import { addBackupPlan } from "./backup-plan.js";
import { alignSstCustomResourceHandler } from "./functions.js";
import { addMonitoring, addOperationsDlq } from "./monitoring.js";
import { addFailuresInbox, addProbe, addSweeper } from "./operations.js";
import { addPayloads } from "./payloads.js";
import { addPlans, type PlanArns, planArns } from "./plans.js";
import { addSchedules } from "./schedules.js";
import {
  alarmSettingsEnv,
  commsSettingsEnv,
  healthSettingsEnv,
  isEphemeralStage,
  queuePrefix,
  scheduleGroupName,
} from "./settings.js";
import { addTable, type TableAccess } from "./table.js";

/** What the parts of the stack pass on to those after them: each part takes the pieces it needs (a `Pick` of these). */
export interface NexusParts {
  readonly app: App;
  /** The stage's data may go with the stack ({@link isEphemeralStage}). */
  readonly ephemeral: boolean;
  /** Statements on the table and its indexes (stacks/table.ts). */
  readonly tableAccess: TableAccess;
  /** The built-in agents' queues, and custom agents' by the prefix (stacks/agents.ts). */
  readonly queues: AgentQueues;
  /** The built-in agents' consumers, and what they give the API (stacks/agents.ts). */
  readonly consumers: AgentConsumers;
  /** The plan state machine's fixed name and ARNs (stacks/plans.ts). */
  readonly plans: PlanArns;
}

export function Nexus({ app, stack }: StackContext) {
  const ephemeral = isEphemeralStage(app.stage);
  const prefix = queuePrefix(app.name, app.stage);
  // Named, not referenced: every function that starts, stops or reports to a plan run is granted it up front.
  const plans = planArns(stack, app);

  const { table, tableAccess } = addTable(stack, { ephemeral });
  // Daily AWS Backup of the table, for stages whose data is kept (a throwaway stage's table goes with its stack).
  const backups = ephemeral ? undefined : addBackupPlan(stack, { app, table });
  const queues = addAgentQueues(stack, prefix);

  // Environment of every function created below. Health thresholds from the deploying shell: every function that
  // judges health (API, sweeper, agents, probe).
  const health = healthSettingsEnv(process.env);
  stack.addDefaultFunctionEnv({
    ...health.environment,
    NEXUS_STAGE: app.stage,
    NEXUS_TABLE: table.tableName,
    NEXUS_QUEUE_PREFIX: prefix,
    NEXUS_BUILTIN_QUEUES: stack.toJsonString(
      Object.fromEntries(
        queues.agents.map(({ agent, queue, dlq }) => [
          agent.id,
          { url: queue.queueUrl, arn: queue.queueArn, dlqUrl: dlq.queueUrl, dlqArn: dlq.queueArn },
        ]),
      ),
    ),
  });

  const consumers = addAgentConsumers(stack, { app, ephemeral, queues, tableAccess, plans });
  const { api, apiFunction, adminKeySecret } = addApi(stack, { app, ephemeral, queues, consumers, tableAccess, plans });
  // Where the scheduled operations' undeliverable events and failed invocations land.
  const operationsDlq = addOperationsDlq(stack, prefix);
  const { sweeper, sweeperFunction } = addSweeper(stack, { queues, consumers, tableAccess, plans, operationsDlq });
  const { failureIngestion, failuresFunction } = addFailuresInbox(stack, { queues, tableAccess, operationsDlq });
  const { probe, probeFunction } = addProbe(stack, {
    queues,
    tableAccess,
    probeIntervalMinutes: health.probeIntervalMinutes,
    operationsDlq,
  });
  const { planRunnerFunction, stateMachine, planLogs } = addPlans(stack, {
    ephemeral,
    plans,
    queues,
    tableAccess,
  });
  const { scheduleFunction, schedulerRole, scheduleDlq } = addSchedules(stack, {
    app,
    queues,
    tableAccess,
    plans,
    apiFunction,
  });
  // Params and results over 32 KB: whoever submits tasks writes params, whoever runs them reads params and writes
  // results, templating and the API read them (the API also presigns downloads, which GetObject covers).
  const { payloadsBucket, grantPayloads } = addPayloads(stack, { ephemeral });
  grantPayloads(apiFunction, "s3:GetObject", "s3:PutObject");
  for (const fn of consumers.agentFunctions) grantPayloads(fn, "s3:GetObject", "s3:PutObject");
  grantPayloads(planRunnerFunction, "s3:GetObject", "s3:PutObject");
  grantPayloads(scheduleFunction, "s3:PutObject");
  const { alarmTopic, dashboard, chatFunction } = addMonitoring(stack, {
    app,
    queues,
    functions: [
      { fn: apiFunction },
      ...consumers.agentFunctions.map((fn) => ({ fn })),
      { fn: sweeperFunction, everyMinutes: 5 },
      { fn: failuresFunction, everyMinutes: 5 },
      { fn: probeFunction, everyMinutes: health.probeIntervalMinutes },
      { fn: planRunnerFunction },
      { fn: scheduleFunction },
    ],
    apiId: api.cdk.httpApi.apiId,
    ...(api.cdk.accessLogGroup ? { accessLogGroup: api.cdk.accessLogGroup } : {}),
    stateMachineArn: stateMachine.stateMachineArn,
    planLogGroup: planLogs,
    scheduleGroup: scheduleGroupName(app.name, app.stage),
    scheduleDlq,
    operationsDlq,
    alarms: alarmSettingsEnv(process.env),
    ...(consumers.providerSecretArns.AgentCommsChatSecretArn
      ? { chatSecretArn: consumers.providerSecretArns.AgentCommsChatSecretArn }
      : {}),
    email: Boolean(commsSettingsEnv(process.env).NEXUS_EMAIL_FROM),
  });
  alignSstCustomResourceHandler(stack);

  stack.addOutputs({
    ApiUrl: api.url,
    TableName: table.tableName,
    // The ARN, not the value: `aws secretsmanager get-secret-value --secret-id <AdminKeySecretArn>`.
    AdminKeySecretArn: adminKeySecret.secretArn,
    // Where operators put provider credentials (aws secretsmanager put-secret-value --secret-id <arn>).
    ...consumers.providerSecretArns,
    PlanStateMachineArn: stateMachine.stateMachineArn,
    ...(backups
      ? { BackupVaultName: backups.backupVault.backupVaultName, BackupPlanId: backups.backupPlan.backupPlanId }
      : {}),
    ...Object.fromEntries(
      queues.agents.flatMap(({ cid, queue, dlq }) => [
        [`${cid}QueueUrl`, queue.queueUrl],
        [`${cid}DlqUrl`, dlq.queueUrl],
      ]),
    ),
  });

  return {
    api,
    table,
    adminKeySecret,
    sweeper,
    apiFunction,
    sweeperFunction,
    failuresFunction,
    failureIngestion,
    probe,
    probeFunction,
    agentFunctions: consumers.agentFunctions,
    agents: queues.agents,
    planRunnerFunction,
    stateMachine,
    operationsDlq,
    alarmTopic,
    dashboard,
    chatFunction,
    scheduleFunction,
    schedulerRole,
    scheduleDlq,
    payloadsBucket,
    backupPlan: backups?.backupPlan,
    backupVault: backups?.backupVault,
  };
}
