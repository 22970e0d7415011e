import { describe, expect, it } from "vitest";
import { schedulerResources } from "../../packages/core/src/schedules/names.js";
import { RETRY_POLICY, scheduleInput } from "../../packages/core/src/schedules/triggers.js";
import { BUILTIN_AGENTS } from "../../stacks/agents.js";
import {
  ACCOUNT,
  APP_NAME,
  allStatements,
  asArray,
  type CfnResource,
  env,
  nexusFunctions,
  obj,
  ofType,
  onlyFunction,
  outputs,
  PREFIX,
  props,
  queueByName,
  REGION,
  render,
  roleOf,
  roleStatements,
  SCHEDULE_GROUP,
  STAGE,
  STATE_MACHINE_ARN,
  schedulerRoleId,
  synthesizeApp,
  template,
} from "./synth.js";

synthesizeApp();

/** A rendered ARN as it is in the commercial partition. */
const inAws = (arn: string) => arn.replace(/^arn:\$\{AWS::Partition\}:/, "arn:aws:");

describe("schedules", () => {
  const scheduleFn = () => onlyFunction("functions/schedule.handler");
  const dlq = () => queueByName(`${SCHEDULE_GROUP}-dlq`);
  const groupArn = `arn:\${AWS::Partition}:scheduler:${REGION}:${ACCOUNT}:schedule-group/${SCHEDULE_GROUP}`;

  it("live in a schedule group of the app and stage", () => {
    const groups = ofType("AWS::Scheduler::ScheduleGroup");
    expect(groups).toHaveLength(1);
    const [groupId, group] = groups[0] as [string, CfnResource];
    expect(group.Properties?.Name).toBe(`${APP_NAME}-${STAGE}-schedules`);
    expect(outputs.ScheduleGroupName?.Value).toEqual({ Ref: groupId });
    // Schedules are the API's to create: the stack declares none of its own.
    expect(ofType("AWS::Scheduler::Schedule")).toEqual([]);
  });

  it("fire the schedule function, named after the group; failed invocations are retried twice, then dead-lettered", () => {
    const fn = scheduleFn();
    expect(props(fn).FunctionName).toBe(SCHEDULE_GROUP);
    expect(props(fn).Timeout).toBe(30);
    expect(props(fn).DeadLetterConfig).toEqual({ TargetArn: { "Fn::GetAtt": [dlq(), "Arn"] } });
    template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      FunctionName: { Ref: fn },
      MaximumRetryAttempts: 2,
    });
    expect(props(dlq()).MessageRetentionPeriod).toBe(14 * 24 * 3600);
    expect(props(dlq()).SqsManagedSseEnabled).toBe(true);
    expect(outputs.ScheduleDlqUrl?.Value).toEqual({ Ref: dlq() });
  });

  it("tell the API only the group's ARN, from which it derives exactly the stack's function, role and queue", () => {
    const value = render(env(onlyFunction("functions/api.handler")).NEXUS_SCHEDULE_GROUP_ARN);
    expect(value).toBe(groupArn);
    const derived = schedulerResources(inAws(value));
    expect(derived).toEqual({
      group: SCHEDULE_GROUP,
      targetArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${props(scheduleFn()).FunctionName}`,
      roleArn: `arn:aws:iam::${ACCOUNT}:role/${props(schedulerRoleId()).RoleName}`,
      deadLetterArn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${props(dlq()).QueueName}`,
    });
    // A role named without a path: its ARN is arn:…:role/<name>.
    expect(props(schedulerRoleId()).Path).toBeUndefined();
    for (const [fn] of nexusFunctions()) {
      if (fn !== onlyFunction("functions/api.handler")) expect(env(fn).NEXUS_SCHEDULE_GROUP_ARN, fn).toBeUndefined();
    }
  });

  it("are created by the API invoking that function through that role, at the scheduled time, retried, dead-lettered", () => {
    const config = schedulerResources(inAws(groupArn));
    const input = scheduleInput(config, {
      scheduleId: "sch_x",
      expression: "cron(0 9 * * ? *)",
      timezone: "Europe/Berlin",
      enabled: true,
      description: "Nexus schedule 'x'",
    });
    expect(input).toMatchObject({
      Name: "sch_x",
      GroupName: SCHEDULE_GROUP,
      ScheduleExpression: "cron(0 9 * * ? *)",
      ScheduleExpressionTimezone: "Europe/Berlin",
      State: "ENABLED",
      FlexibleTimeWindow: { Mode: "OFF" },
      Target: {
        Arn: config.targetArn,
        RoleArn: config.roleArn,
        RetryPolicy: RETRY_POLICY,
        DeadLetterConfig: { Arn: config.deadLetterArn },
      },
    });
    expect(JSON.parse(String(input.Target?.Input))).toEqual({
      scheduleId: "sch_x",
      scheduledAt: "<aws.scheduler.scheduled-time>",
    });
  });

  it("are run by EventBridge Scheduler with a role of their own: this account's and group's only; invoke and DLQ only", () => {
    const role = schedulerRoleId();
    const trust = asArray(obj(props(role).AssumeRolePolicyDocument, "AssumeRolePolicyDocument").Statement);
    expect(trust).toHaveLength(1);
    const statement = obj(trust[0], "trust statement");
    expect(statement).toMatchObject({ Effect: "Allow", Principal: { Service: "scheduler.amazonaws.com" } });
    const conditions = obj(statement.Condition, "Condition");
    expect(obj(conditions.StringEquals, "StringEquals")["aws:SourceAccount"]).toBe(ACCOUNT);
    expect(render(obj(conditions.ArnEquals, "ArnEquals")["aws:SourceArn"])).toBe(groupArn);
    const allowed = roleStatements(role).map((s) => ({ ...s, Resource: s.Resource.map(render) }));
    expect(allowed).toEqual([
      { Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: [`\${${scheduleFn()}.Arn}`] },
      { Effect: "Allow", Action: ["sqs:SendMessage"], Resource: [`\${${dlq()}.Arn}`] },
    ]);
    expect(props(role).ManagedPolicyArns).toBeUndefined();
  });

  it("are managed by the API only: the group's schedules, and passing exactly the scheduler's role to the scheduler", () => {
    const apiRole = roleOf(onlyFunction("functions/api.handler"));
    const managing = allStatements().filter(({ statement }) =>
      statement.Action.some((a) => a.startsWith("scheduler:") || a === "iam:PassRole"),
    );
    expect(new Set(managing.flatMap(({ roles }) => roles))).toEqual(new Set([apiRole]));
    const statements = managing.map(({ statement }) => ({ ...statement, Resource: statement.Resource.map(render) }));
    expect(statements).toEqual([
      {
        Effect: "Allow",
        Action: [
          "scheduler:CreateSchedule",
          "scheduler:UpdateSchedule",
          "scheduler:DeleteSchedule",
          "scheduler:GetSchedule",
        ],
        Resource: [`arn:\${AWS::Partition}:scheduler:${REGION}:${ACCOUNT}:schedule/${SCHEDULE_GROUP}/*`],
      },
      {
        Effect: "Allow",
        Action: ["iam:PassRole"],
        Resource: [`\${${schedulerRoleId()}.Arn}`],
        Condition: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
      },
    ]);
  });

  it("are fired with a least-privilege role: the table, every agent queue and the DLQ, starting plan runs", () => {
    const statements = roleStatements(roleOf(scheduleFn()));
    const sqs = statements.filter((s) => s.Action.some((a) => a.startsWith("sqs:")));
    expect(new Set(sqs.flatMap((s) => s.Action))).toEqual(new Set(["sqs:SendMessage"]));
    expect(sqs.flatMap((s) => s.Resource.map(render)).sort()).toEqual(
      [
        ...BUILTIN_AGENTS.map((a) => `\${${queueByName(`${PREFIX}${a.id}`)}.Arn}`),
        `arn:\${AWS::Partition}:sqs:${REGION}:${ACCOUNT}:${PREFIX}*`,
        `\${${dlq()}.Arn}`,
      ].sort(),
    );
    const states = statements.filter((s) => s.Action.some((a) => a.startsWith("states:")));
    expect(states.map((s) => ({ Action: s.Action, Resource: s.Resource.map(render) }))).toEqual([
      { Action: ["states:StartExecution"], Resource: [STATE_MACHINE_ARN] },
    ]);
  });
});
