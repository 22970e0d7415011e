/**
 * Monitoring: the alarms of packages/core/src/alarms.ts as CloudWatch alarms, each notifying one SNS topic when it
 * fires and when it is OK again (email from `NEXUS_ALARM_EMAIL`, a chat channel from `NEXUS_ALARM_CHAT`); one
 * CloudWatch dashboard; saved Logs Insights queries; and the dead-letter queue and retries of the scheduled operations
 * (their EventBridge rules' targets, and their asynchronous invocations).
 */
import { ArnFormat, Duration, RemovalPolicy } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cloudwatchActions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import type * as logs from "aws-cdk-lib/aws-logs";
import { QueryDefinition, QueryString } from "aws-cdk-lib/aws-logs";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { NagSuppressions } from "cdk-nag";
import type { Function as SstFunction, Stack } from "sst/constructs";
import {
  type AlarmDefinition,
  type AlarmSettings,
  type AlarmSource,
  alarmDefinitions,
  combineExpression,
  type MetricRef,
  ratioExpression,
} from "../packages/core/src/alarms.js";
import { type MetricName, metricsNamespace } from "../packages/core/src/metrics.js";
import { nexusFunction } from "./functions.js";
import type { NexusParts } from "./Nexus.js";
import { pascal } from "./settings.js";

/** How often an asynchronous invocation of a scheduled function is retried, and how long its event may wait. */
export const ASYNC_RETRY_ATTEMPTS = 2;
export const MAX_EVENT_AGE = Duration.hours(1);
/** How often EventBridge retries delivering a rule's event to its target, and for how long. */
export const RULE_RETRY_ATTEMPTS = 3;

/**
 * The queue where the scheduled operations' events land when EventBridge cannot deliver them (after its retries) and
 * when the function fails them (after Lambda's asynchronous retries): one for the sweeper, the failures inbox and the
 * probe. Its alarm fires on the first message.
 */
export function addOperationsDlq(stack: Stack, prefix: string) {
  const operationsDlq = new sqs.Queue(stack, "OperationsDlq", {
    queueName: `${prefix.replace(/-agent-$/, "")}-operations-dlq`,
    retentionPeriod: Duration.days(14),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  });
  NagSuppressions.addResourceSuppressions(operationsDlq, [
    {
      id: "AwsSolutions-SQS3",
      reason:
        "This queue is itself a dead-letter queue: of the scheduled operations' undeliverable EventBridge events and failed asynchronous invocations.",
    },
  ]);
  return operationsDlq;
}

/**
 * A scheduled function's asynchronous invocations: retried, then sent to the operations DLQ with their error. Its role
 * may send to that queue, nothing more (CDK's SqsDestination would also grant GetQueueAttributes and GetQueueUrl,
 * which Lambda does not use).
 */
export function onFailureToDlq(fn: SstFunction, dlq: sqs.IQueue) {
  const onFailure: lambda.IDestination = { bind: () => ({ destination: dlq.queueArn }) };
  fn.configureAsyncInvoke({ onFailure, retryAttempts: ASYNC_RETRY_ATTEMPTS, maxEventAge: MAX_EVENT_AGE });
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ["sqs:SendMessage"], resources: [dlq.queueArn] }));
}

/** The target settings of a scheduled operation's EventBridge rule: retries, then the operations DLQ. */
export const ruleTarget = (dlq: sqs.IQueue) => ({
  deadLetterQueue: dlq,
  retryAttempts: RULE_RETRY_ATTEMPTS,
  maxEventAge: MAX_EVENT_AGE,
});

export interface MonitoredFunction {
  readonly fn: SstFunction;
  /** Runs on an EventBridge schedule this often (minutes): an alarm when it has not run in two intervals. */
  readonly everyMinutes?: number;
}

export interface MonitoringProps extends Pick<NexusParts, "app" | "queues"> {
  readonly functions: readonly MonitoredFunction[];
  readonly apiId: string;
  readonly accessLogGroup?: logs.ILogGroup;
  readonly stateMachineArn: string;
  readonly planLogGroup: logs.ILogGroup;
  readonly scheduleGroup: string;
  readonly scheduleDlq: sqs.IQueue;
  readonly operationsDlq: sqs.IQueue;
  /** Alarm thresholds, email and chat channel (stacks/settings.ts: alarmSettingsEnv). */
  readonly alarms: { settings: AlarmSettings; email?: string; chatChannel?: string };
  /** The comms agent's chat secret (webhooks by channel), when alarms go to a chat channel. */
  readonly chatSecretArn?: string;
  /** Whether the deployment sends email through SES (its reputation is then watched). */
  readonly email: boolean;
}

export function addMonitoring(stack: Stack, props: MonitoringProps) {
  const { app, queues } = props;
  const namePrefix = `${app.name}-${app.stage}`;

  // ── Topic ────────────────────────────────────────────────────────────────────────────────────────
  // CloudWatch publishes on behalf of this stack's alarms only (confused deputy: the account and the alarms' names).
  const fromOurAlarms = {
    StringEquals: { "aws:SourceAccount": stack.account },
    ArnLike: {
      "aws:SourceArn": stack.formatArn({
        service: "cloudwatch",
        resource: "alarm",
        resourceName: `${namePrefix}-*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    },
  };
  const cloudwatchPrincipal = new iam.ServicePrincipal("cloudwatch.amazonaws.com");
  // Encrypted with a key of its own: CloudWatch may publish to a topic under a customer managed key only.
  const topicKey = new kms.Key(stack, "AlarmTopicKey", {
    description: `Encrypts the ${namePrefix} alarm topic`,
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  topicKey.addToResourcePolicy(
    new iam.PolicyStatement({
      principals: [cloudwatchPrincipal],
      actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
      resources: ["*"],
      conditions: fromOurAlarms,
    }),
  );
  const alarmTopic = new sns.Topic(stack, "AlarmTopic", {
    topicName: `${namePrefix}-alarms`,
    displayName: `Nexus ${app.stage} alarms`,
    masterKey: topicKey,
    enforceSSL: true,
  });
  // The topic's policy (TLS only) replaces SNS's default one, which let the account's principals publish.
  alarmTopic.addToResourcePolicy(
    new iam.PolicyStatement({
      principals: [cloudwatchPrincipal],
      actions: ["sns:Publish"],
      resources: [alarmTopic.topicArn],
      conditions: fromOurAlarms,
    }),
  );
  if (props.alarms.email) alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarms.email));
  let chatFunction: SstFunction | undefined;
  if (props.alarms.chatChannel && props.chatSecretArn) {
    chatFunction = nexusFunction(stack, "AlarmChatFunction", {
      handler: "functions/alarm-chat.handler",
      // 512 MB: it peaks near 115 MB (bench heap phase); SST's default is 1,024
      memorySize: 512,
      timeout: 30,
      environment: { NEXUS_CHAT_SECRET: props.chatSecretArn, NEXUS_ALARM_CHAT: props.alarms.chatChannel },
    });
    chatFunction.addToRolePolicy(
      new iam.PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [props.chatSecretArn] }),
    );
    alarmTopic.addSubscription(new subscriptions.LambdaSubscription(chatFunction));
    // SNS invokes it asynchronously: a notice it could not post after Lambda's retries waits in the operations DLQ.
    onFailureToDlq(chatFunction, props.operationsDlq);
  }
  const action = new cloudwatchActions.SnsAction(alarmTopic);
  // Its own faults are alarms too (they still reach the email subscription).
  const watched = [...props.functions, ...(chatFunction ? [{ fn: chatFunction }] : [])];

  // ── Alarms ───────────────────────────────────────────────────────────────────────────────────────
  const definitions = alarmDefinitions({
    stage: app.stage,
    agents: queues.agents.map(({ agent, queue, dlq }) => ({
      id: agent.id,
      queueName: queue.queueName,
      dlqName: dlq.queueName,
    })),
    functions: watched.map(({ fn, everyMinutes }) => ({
      id: fn.node.id,
      functionName: fn.functionName,
      ...(everyMinutes === undefined ? {} : { everyMinutes }),
    })),
    apiId: props.apiId,
    stateMachineArn: props.stateMachineArn,
    schedules: { group: props.scheduleGroup, dlqName: props.scheduleDlq.queueName },
    operationsDlqName: props.operationsDlq.queueName,
    email: props.email,
    settings: props.alarms.settings,
  });
  const alarms = definitions.map((definition) => {
    const alarm = new cloudwatch.Alarm(stack, `Alarm${pascal(definition.key)}`, {
      alarmName: `${namePrefix}-${definition.key}`,
      alarmDescription: definition.description,
      metric: cloudwatchMetric(definition.source, definition.periodSeconds),
      threshold: definition.threshold,
      evaluationPeriods: definition.evaluationPeriods,
      datapointsToAlarm: definition.evaluationPeriods,
      comparisonOperator: definition.comparison as cloudwatch.ComparisonOperator,
      treatMissingData: definition.treatMissingData as cloudwatch.TreatMissingData,
    });
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    return { definition, alarm };
  });

  // ── Dashboard ────────────────────────────────────────────────────────────────────────────────────
  const dashboard = addDashboard(stack, { ...props, functions: watched }, alarms);

  // ── Saved Logs Insights queries ──────────────────────────────────────────────────────────────────
  const logGroupsOf = (functions: readonly MonitoredFunction[]) =>
    functions.flatMap(({ fn }) => (fn.logGroup ? [fn.logGroup] : []));
  const taskStory = new QueryDefinition(stack, "TaskStoryQuery", {
    queryDefinitionName: `${namePrefix}/task-story`,
    logGroups: [...logGroupsOf(props.functions), props.planLogGroup],
    queryString: new QueryString({
      fields: ["@timestamp", "@log", "level", "service", "message", "taskId", "agentId", "planId", "attempt"],
      // Replace the id; it matches wherever the task is named (logs of the API, its agent, the runner, the sweeper).
      filterStatements: ["@message like 'REPLACE_WITH_TASK_ID'"],
      sort: "@timestamp asc",
      limit: 1000,
    }),
  });
  const errorsByAgent = new QueryDefinition(stack, "ErrorsByAgentQuery", {
    queryDefinitionName: `${namePrefix}/errors-by-agent`,
    logGroups: logGroupsOf(watched),
    queryString: new QueryString({
      // The window is the query's time range.
      filterStatements: ["level = 'ERROR'"],
      stats: "count(*) as errors, latest(message) as lastMessage by coalesce(agentId, service) as agent",
      sort: "errors desc",
    }),
  });
  const queries = [taskStory, errorsByAgent];
  if (props.accessLogGroup) {
    queries.push(
      new QueryDefinition(stack, "ApiErrorsQuery", {
        queryDefinitionName: `${namePrefix}/api-errors`,
        logGroups: [props.accessLogGroup],
        queryString: new QueryString({
          fields: ["@timestamp", "requestId", "httpMethod", "path", "status", "responseLatency", "integrationError"],
          filterStatements: ["status >= 500"],
          sort: "@timestamp desc",
          limit: 200,
        }),
      }),
    );
  }

  stack.addOutputs({
    AlarmTopicArn: alarmTopic.topicArn,
    DashboardName: dashboard.dashboardName,
    OperationsDlqUrl: props.operationsDlq.queueUrl,
  });
  return { alarmTopic, alarms, dashboard, queries, chatFunction };
}

/** A metric of the definitions as CloudWatch's, over the alarm's period. */
function toMetric(m: MetricRef, periodSeconds: number): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: m.namespace,
    metricName: m.name,
    dimensionsMap: { ...m.dimensions },
    statistic: m.statistic,
    period: Duration.seconds(periodSeconds),
  });
}

function cloudwatchMetric(source: AlarmSource, periodSeconds: number): cloudwatch.IMetric {
  const period = Duration.seconds(periodSeconds);
  if (source.kind === "metric") return toMetric(source.metric, periodSeconds);
  if (source.kind !== "ratio") {
    return new cloudwatch.MathExpression({
      expression: combineExpression(source),
      usingMetrics: Object.fromEntries(source.metrics.map((m, i) => [`m${i}`, toMetric(m, periodSeconds)])),
      label: source.label,
      period,
    });
  }
  return new cloudwatch.MathExpression({
    expression: ratioExpression(source),
    usingMetrics: {
      n: toMetric(source.numerator, periodSeconds),
      ...Object.fromEntries(source.denominator.map((m, i) => [`d${i}`, toMetric(m, periodSeconds)])),
    },
    label: source.label,
    period,
  });
}

function addDashboard(
  stack: Stack,
  props: MonitoringProps,
  alarms: ReadonlyArray<{ definition: AlarmDefinition; alarm: cloudwatch.Alarm }>,
) {
  const { app, queues } = props;
  const ns = metricsNamespace(app.stage);
  const five = Duration.minutes(5);
  const custom = (name: MetricName, statistic: string, dimensionsMap: Record<string, string> = {}, label?: string) =>
    new cloudwatch.Metric({
      namespace: ns,
      metricName: name,
      dimensionsMap,
      statistic,
      period: five,
      ...(label ? { label } : {}),
    });
  const apiGateway = (metricName: string, statistic: string, label: string) =>
    new cloudwatch.Metric({
      namespace: "AWS/ApiGateway",
      metricName,
      dimensionsMap: { ApiId: props.apiId },
      statistic,
      period: five,
      label,
    });
  const perAgent = (name: MetricName, statistic = "Sum") =>
    queues.agents.map(({ agent }) => custom(name, statistic, { Agent: agent.id }, agent.id));
  const sqsMetric = (metricName: string, queueName: string, label: string) =>
    new cloudwatch.Metric({
      namespace: "AWS/SQS",
      metricName,
      dimensionsMap: { QueueName: queueName },
      statistic: "Maximum",
      period: Duration.minutes(1),
      label,
    });
  const states = (metricName: string, label: string) =>
    new cloudwatch.Metric({
      namespace: "AWS/States",
      metricName,
      dimensionsMap: { StateMachineArn: props.stateMachineArn },
      statistic: "Sum",
      period: five,
      label,
    });
  const graph = (title: string, left: cloudwatch.IMetric[], right?: cloudwatch.IMetric[], width = 8) =>
    new cloudwatch.GraphWidget({ title, left, ...(right ? { right } : {}), width, height: 6 });

  const dashboard = new cloudwatch.Dashboard(stack, "Dashboard", {
    dashboardName: `${app.name}-${app.stage}`,
    defaultInterval: Duration.hours(3),
  });
  dashboard.addWidgets(
    new cloudwatch.AlarmStatusWidget({
      title: "Alarms",
      alarms: alarms.map(({ alarm }) => alarm),
      width: 24,
      height: Math.min(12, 2 + Math.ceil(alarms.length / 4)),
      sortBy: cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
    }),
  );
  dashboard.addWidgets(
    graph("API requests", [
      apiGateway("Count", "Sum", "requests"),
      apiGateway("4xx", "Sum", "4xx"),
      apiGateway("5xx", "Sum", "5xx"),
    ]),
    graph(
      "API requests by status class (Nexus)",
      ["2xx", "3xx", "4xx", "5xx"].map((c) => custom("ApiRequests", "Sum", { StatusClass: c }, c)),
    ),
    graph("API latency (ms)", [
      apiGateway("Latency", "p50", "p50"),
      apiGateway("Latency", "p99", "p99"),
      apiGateway("IntegrationLatency", "p99", "integration p99"),
    ]),
  );
  dashboard.addWidgets(
    graph("Tasks submitted per agent", perAgent("TasksSubmitted")),
    graph("Tasks succeeded per agent", perAgent("TasksSucceeded")),
    graph("Task duration p99 per agent (ms)", perAgent("TaskDuration", "p99")),
  );
  dashboard.addWidgets(
    graph("Tasks failed per agent", perAgent("TasksFailed")),
    graph("Tasks retried per agent", perAgent("TasksRetried")),
    graph("Dead-lettered per agent", perAgent("DlqArrivals")),
  );
  dashboard.addWidgets(
    graph(
      "Queue depth",
      queues.agents.map(({ agent, queue }) =>
        sqsMetric("ApproximateNumberOfMessagesVisible", queue.queueName, agent.id),
      ),
    ),
    graph(
      "Oldest queued message (s)",
      queues.agents.map(({ agent, queue }) => sqsMetric("ApproximateAgeOfOldestMessage", queue.queueName, agent.id)),
    ),
    graph("DLQ depth", [
      ...queues.agents.map(({ agent, dlq }) =>
        sqsMetric("ApproximateNumberOfMessagesVisible", dlq.queueName, agent.id),
      ),
      sqsMetric("ApproximateNumberOfMessagesVisible", props.scheduleDlq.queueName, "schedules"),
      sqsMetric("ApproximateNumberOfMessagesVisible", props.operationsDlq.queueName, "operations"),
    ]),
  );
  dashboard.addWidgets(
    graph("Plan runs", [
      custom("PlanRunsSucceeded", "Sum", {}, "succeeded"),
      custom("PlanRunsFailed", "Sum", {}, "failed"),
      states("ExecutionsFailed", "executions failed"),
      states("ExecutionsTimedOut", "executions timed out"),
    ]),
    graph(
      "Agents online",
      [custom("AgentsOnline", "Minimum", {}, "agents online")],
      perAgent("AgentOnline", "Minimum"),
    ),
    graph(
      "Function errors",
      props.functions.map(({ fn }) => fn.metricErrors({ period: five, label: fn.node.id })),
    ),
  );
  return dashboard;
}
