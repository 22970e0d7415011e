import { describe, expect, it } from "vitest";
import * as Alarms from "../../packages/core/src/alarms.js";
import { BUILTIN_AGENTS } from "../../stacks/agents.js";
import { ASYNC_RETRY_ATTEMPTS, RULE_RETRY_ATTEMPTS } from "../../stacks/monitoring.js";
import {
  ACCOUNT,
  ALARM_SETTINGS,
  APP_NAME,
  agentQueueStatements,
  asArray,
  type CfnResource,
  type JsonObject,
  nexusFunctions,
  obj,
  ofType,
  onlyFunction,
  operationsDlqId,
  PREFIX,
  props,
  queueByName,
  REGION,
  refOf,
  render,
  roleOf,
  roleStatements,
  STAGE,
  secretByName,
  stateMachineId,
  statementsOf,
  synthesizeApp,
  template,
} from "./synth.js";

synthesizeApp();

const DEFAULTS = Alarms.DEFAULT_ALARM_SETTINGS;
const OVERRIDES = JSON.parse(ALARM_SETTINGS.NEXUS_ALARMS) as Partial<Alarms.AlarmSettings>;
const alarmNamed = (key: string): JsonObject => {
  const found = ofType("AWS::CloudWatch::Alarm").filter(
    ([, r]) => r.Properties?.AlarmName === `${APP_NAME}-${STAGE}-${key}`,
  );
  expect(found, `alarm ${key}`).toHaveLength(1);
  return (found[0] as [string, CfnResource])[1].Properties ?? {};
};
const dimension = (alarm: JsonObject, name: string) =>
  asArray(alarm.Dimensions)
    .map((d) => obj(d, "Dimension"))
    .find((d) => d.Name === name)?.Value;
const kebab = (id: string) => Alarms.kebab(id);
const topicId = () => {
  const topics = ofType("AWS::SNS::Topic").map(([id]) => id);
  expect(topics).toHaveLength(1);
  return topics[0] as string;
};

describe("alarms", () => {
  it("watch each built-in agent: DLQ not empty, oldest message, failure rate with a minimum count, offline", () => {
    expect(OVERRIDES.queueAgeMinutes).not.toBe(DEFAULTS.queueAgeMinutes);
    for (const { id } of BUILTIN_AGENTS) {
      // What waits in its DLQ, or what it dead-lettered in the minute, whichever is more.
      const dlq = alarmNamed(`agent-${id}-dlq`);
      expect(dlq).toMatchObject({
        Threshold: DEFAULTS.dlqMessages,
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
        TreatMissingData: "notBreaching",
      });
      const dlqMetrics = asArray(dlq.Metrics).map((m) => obj(m, "Metric"));
      expect(dlqMetrics.find((m) => m.Expression)?.Expression).toBe("MAX([FILL(m0, 0), FILL(m1, 0)])");
      const dlqStat = (metricId: string) => obj(dlqMetrics.find((m) => m.Id === metricId)?.MetricStat, metricId);
      expect(dlqStat("m0")).toMatchObject({
        Metric: { Namespace: "AWS/SQS", MetricName: "ApproximateNumberOfMessagesVisible" },
        Period: 60,
        Stat: "Maximum",
      });
      const queueDimension = obj(dlqStat("m0").Metric, "m0").Dimensions;
      expect(refOf(obj(asArray(queueDimension)[0], "Dimension").Value)).toBe(
        `${queueByName(`${PREFIX}${id}-dlq`)}.QueueName`,
      );
      expect(dlqStat("m1")).toMatchObject({
        Metric: { Namespace: `Nexus/${STAGE}`, MetricName: "DlqArrivals", Dimensions: [{ Name: "Agent", Value: id }] },
        Stat: "Sum",
      });

      const age = alarmNamed(`agent-${id}-queue-age`);
      // Overridden for every agent, and for research again.
      const ageMinutes = id === "research" ? 60 : 30;
      expect(age).toMatchObject({ MetricName: "ApproximateAgeOfOldestMessage", Threshold: ageMinutes * 60 });
      expect(refOf(dimension(age, "QueueName"))).toBe(`${queueByName(`${PREFIX}${id}`)}.QueueName`);

      const rate = alarmNamed(`agent-${id}-failure-rate`);
      expect(rate).toMatchObject({
        Threshold: DEFAULTS.failureRatePercent,
        ComparisonOperator: "GreaterThanThreshold",
      });
      const metrics = asArray(rate.Metrics).map((m) => obj(m, "Metric"));
      expect(metrics.find((m) => m.Expression)?.Expression).toBe(
        `IF(FILL(d0, 0) >= ${DEFAULTS.failureRateMinTasks}, 100 * FILL(n, 0) / FILL(d0, 0), 0)`,
      );
      const stat = (metricId: string) => obj(metrics.find((m) => m.Id === metricId)?.MetricStat, metricId);
      expect(obj(stat("n").Metric, "n")).toEqual({
        Namespace: `Nexus/${STAGE}`,
        MetricName: "TasksFailed",
        Dimensions: [{ Name: "Agent", Value: id }],
      });
      expect(obj(stat("d0").Metric, "d0")).toMatchObject({ MetricName: "TasksSubmitted" });

      expect(alarmNamed(`agent-${id}-offline`)).toMatchObject({
        Namespace: `Nexus/${STAGE}`,
        MetricName: "AgentOnline",
        Dimensions: [{ Name: "Agent", Value: id }],
        ComparisonOperator: "LessThanThreshold",
        Threshold: 1,
        Period: 300,
        EvaluationPeriods: Math.ceil(DEFAULTS.agentOfflineMinutes / 5),
      });
    }
  });

  it("watch every function's errors (threshold overridden) and throttles (default)", () => {
    const functions = nexusFunctions();
    expect(functions.length).toBeGreaterThanOrEqual(BUILTIN_AGENTS.length + 6);
    for (const [fnId] of functions) {
      const logical = ofType("AWS::CloudWatch::Alarm").filter(([, r]) =>
        JSON.stringify(r.Properties?.Dimensions ?? []).includes(`"Ref":"${fnId}"`),
      );
      const byMetric = Object.fromEntries(logical.map(([, r]) => [r.Properties?.MetricName, r.Properties ?? {}]));
      expect(byMetric.Errors, fnId).toMatchObject({ Threshold: OVERRIDES.functionErrors, Namespace: "AWS/Lambda" });
      expect(byMetric.Throttles, fnId).toMatchObject({ Threshold: DEFAULTS.functionThrottles });
    }
  });

  it("fire when the sweeper, the failures inbox or the probe has not run in two intervals (missing data breaching)", () => {
    for (const handler of ["sweeper", "failures", "probe"]) {
      const fn = onlyFunction(`functions/${handler}.handler`);
      const alarm = alarmNamed(`${kebab(fn.replace(/[0-9A-F]{8}$/, ""))}-not-run`);
      expect(alarm).toMatchObject({
        Namespace: "AWS/Lambda",
        MetricName: "Invocations",
        Statistic: "Sum",
        Period: 600,
        Threshold: 1,
        ComparisonOperator: "LessThanThreshold",
        TreatMissingData: "breaching",
      });
      expect(refOf(dimension(alarm, "FunctionName"))).toBe(fn);
    }
  });

  it("fire when a schedule's run is lost, plan runs fail, the API errs or slows, or SES reputation drops", () => {
    const missed = alarmNamed("schedules-missed");
    const names = asArray(missed.Metrics)
      .map((m) => obj(m, "Metric").MetricStat)
      .filter(Boolean)
      .map((s) => obj(obj(s, "MetricStat").Metric, "Metric").MetricName);
    expect(names.sort()).toEqual(
      [
        "InvocationDroppedCount",
        "InvocationsFailedToBeSentToDeadLetterCount",
        "InvocationsSentToDeadLetterCount",
      ].sort(),
    );
    expect(alarmNamed("plan-runs-failed")).toMatchObject({
      Namespace: "AWS/States",
      MetricName: "ExecutionsFailed",
      Threshold: DEFAULTS.planFailures,
      Dimensions: [{ Name: "StateMachineArn", Value: { Ref: stateMachineId() } }],
    });
    expect(alarmNamed("api-p99-latency")).toMatchObject({
      Namespace: "AWS/ApiGateway",
      MetricName: "Latency",
      ExtendedStatistic: "p99",
      Threshold: DEFAULTS.apiP99LatencyMs,
    });
    expect(alarmNamed("api-5xx").Threshold).toBe(DEFAULTS.api5xxPercent);
    expect(alarmNamed("ses-bounce-rate")).toMatchObject({ MetricName: "Reputation.BounceRate", Threshold: 0.05 });
    expect(alarmNamed("ses-complaint-rate")).toMatchObject({
      MetricName: "Reputation.ComplaintRate",
      Threshold: 0.001,
    });
    expect(refOf(dimension(alarmNamed("operations-dlq"), "QueueName"))).toBe(`${operationsDlqId()}.QueueName`);
  });

  it("all notify the one topic, when they fire and when they are OK again", () => {
    const alarms = ofType("AWS::CloudWatch::Alarm");
    expect(alarms.length).toBeGreaterThan(BUILTIN_AGENTS.length * 4);
    for (const [id, alarm] of alarms) {
      expect(alarm.Properties?.AlarmActions, id).toEqual([{ Ref: topicId() }]);
      expect(alarm.Properties?.OKActions, id).toEqual([{ Ref: topicId() }]);
    }
  });
});

describe("the alarm topic", () => {
  it("is encrypted with a rotated key CloudWatch may use, and refuses requests without TLS", () => {
    const topic = props(topicId());
    const key = refOf(topic.KmsMasterKeyId)?.replace(/\.Arn$/, "") ?? "";
    expect(props(key).EnableKeyRotation).toBe(true);
    const ourAlarms = `arn:\${AWS::Partition}:cloudwatch:${REGION}:${ACCOUNT}:alarm:${APP_NAME}-${STAGE}-*`;
    const keyStatement = statementsOf(props(key).KeyPolicy).find((s) => JSON.stringify(s).includes("cloudwatch"));
    expect(keyStatement).toMatchObject({ Action: ["kms:Decrypt", "kms:GenerateDataKey*"] });
    expect(render(obj(obj(keyStatement?.Condition, "Condition").ArnLike, "ArnLike")["aws:SourceArn"])).toBe(ourAlarms);
    const [[, policy]] = ofType("AWS::SNS::TopicPolicy") as [[string, CfnResource]];
    const statements = statementsOf(policy.Properties?.PolicyDocument);
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
    );
    // CloudWatch may publish, for this stack's alarms only (the policy replaced SNS's default one).
    const publish = statements.find((s) => s.Effect === "Allow");
    expect(publish?.Action).toEqual(["sns:Publish"]);
    expect(JSON.stringify(policy.Properties?.PolicyDocument)).toContain('"Service":"cloudwatch.amazonaws.com"');
    const conditions = obj(publish?.Condition, "Condition");
    expect(obj(conditions.StringEquals, "StringEquals")["aws:SourceAccount"]).toBe(ACCOUNT);
    expect(render(obj(conditions.ArnLike, "ArnLike")["aws:SourceArn"])).toBe(ourAlarms);
  });

  it("emails NEXUS_ALARM_EMAIL and posts to the NEXUS_ALARM_CHAT channel through the comms agent's chat secret", () => {
    template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: ALARM_SETTINGS.NEXUS_ALARM_EMAIL,
      TopicArn: { Ref: topicId() },
    });
    const chat = onlyFunction("functions/alarm-chat.handler");
    template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "lambda",
      Endpoint: { "Fn::GetAtt": [chat, "Arn"] },
    });
    // A notice it could not post after Lambda's retries waits in the operations DLQ (its only queue).
    template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      FunctionName: { Ref: chat },
      MaximumRetryAttempts: ASYNC_RETRY_ATTEMPTS,
      DestinationConfig: { OnFailure: { Destination: { "Fn::GetAtt": [operationsDlqId(), "Arn"] } } },
    });
    expect(agentQueueStatements(chat)).toEqual([]);
    const variables = obj(obj(props(chat).Environment, "Environment").Variables, "Variables");
    expect(variables.NEXUS_ALARM_CHAT).toBe(ALARM_SETTINGS.NEXUS_ALARM_CHAT);
    expect(variables.NEXUS_CHAT_SECRET).toEqual({ Ref: secretByName("chat") });
    const secrets = roleStatements(roleOf(chat)).filter((s) => s.Action.some((a) => a.startsWith("secretsmanager:")));
    expect(secrets).toEqual([
      { Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: [{ Ref: secretByName("chat") }] },
    ]);
  });
});

describe("the dashboard", () => {
  it("shows alarms, API traffic and errors, per-agent throughput and failures, queues and plan outcomes", () => {
    const dashboards = ofType("AWS::CloudWatch::Dashboard");
    expect(dashboards).toHaveLength(1);
    const [, dashboard] = dashboards[0] as [string, CfnResource];
    expect(dashboard.Properties?.DashboardName).toBe(`${APP_NAME}-${STAGE}`);
    const body = render(dashboard.Properties?.DashboardBody);
    for (const title of [
      "Alarms",
      "API requests",
      "API latency (ms)",
      "Tasks submitted per agent",
      "Tasks failed per agent",
      "Queue depth",
      "Oldest queued message (s)",
      "DLQ depth",
      "Plan runs",
      "Agents online",
    ]) {
      expect(body).toContain(`"title":"${title}"`);
    }
    expect(body).toContain('"type":"alarm"');
    for (const { id } of BUILTIN_AGENTS) expect(body).toContain(`"Agent","${id}"`);
  });
});

describe("saved Logs Insights queries", () => {
  const query = (name: string) => {
    const found = ofType("AWS::Logs::QueryDefinition").filter(
      ([, r]) => r.Properties?.Name === `${APP_NAME}-${STAGE}/${name}`,
    );
    expect(found, name).toHaveLength(1);
    return (found[0] as [string, CfnResource])[1].Properties ?? {};
  };

  it("tell a task's whole story across every function's log and the plan state machine's, by task id", () => {
    const story = query("task-story");
    expect(story.QueryString).toContain("REPLACE_WITH_TASK_ID");
    expect(story.QueryString).toContain("sort @timestamp asc");
    const groups = asArray(story.LogGroupNames).map(render);
    // Every function that handles tasks or plans (the alarm chat function does not).
    for (const [fnId] of nexusFunctions().filter(([id]) => id !== onlyFunction("functions/alarm-chat.handler"))) {
      expect(groups).toContain(render(obj(props(fnId).LoggingConfig, "LoggingConfig").LogGroup));
    }
    expect(groups.some((g) => g.includes("PlanStateMachineLogs"))).toBe(true);
  });

  it("count errors by agent over the query's window", () => {
    const errors = query("errors-by-agent");
    expect(errors.QueryString).toContain("filter level = 'ERROR'");
    expect(errors.QueryString).toContain("by coalesce(agentId, service) as agent");
  });
});

describe("scheduled operations", () => {
  it("retry their EventBridge deliveries and dead-letter what still fails, as do their asynchronous invocations", () => {
    for (const handler of ["sweeper", "failures", "probe"]) {
      const fn = onlyFunction(`functions/${handler}.handler`);
      const targets = ofType("AWS::Events::Rule").flatMap(([, r]) =>
        asArray(r.Properties?.Targets)
          .map((t) => obj(t, "Target"))
          .filter((t) => refOf(t.Arn) === `${fn}.Arn`),
      );
      expect(targets, handler).toHaveLength(1);
      expect(targets[0]).toMatchObject({
        RetryPolicy: { MaximumRetryAttempts: RULE_RETRY_ATTEMPTS, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: { "Fn::GetAtt": [operationsDlqId(), "Arn"] } },
      });
      template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
        FunctionName: { Ref: fn },
        MaximumRetryAttempts: ASYNC_RETRY_ATTEMPTS,
        MaximumEventAgeInSeconds: 3600,
        DestinationConfig: { OnFailure: { Destination: { "Fn::GetAtt": [operationsDlqId(), "Arn"] } } },
      });
    }
  });
});

describe("API access logs", () => {
  it("are one JSON object per request, in a log group kept a month", () => {
    const stages = ofType("AWS::ApiGatewayV2::Stage");
    expect(stages).toHaveLength(1);
    const settings = obj((stages[0] as [string, CfnResource])[1].Properties?.AccessLogSettings, "AccessLogSettings");
    const line = String(settings.Format)
      .replaceAll(/"\$context\.[A-Za-z.]+"/g, '"x"')
      .replaceAll(/\$context\.[A-Za-z.]+/g, "200");
    expect(Object.keys(JSON.parse(line))).toEqual(expect.arrayContaining(["requestId", "status", "responseLatency"]));
    const group = refOf(settings.DestinationArn)?.replace(/\.Arn$/, "") ?? "";
    expect(props(group).RetentionInDays).toBe(30);
  });
});
