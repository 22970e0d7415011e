/**
 * Plans (stacks/plans.ts): the state machine, its definition and runner, who may start, stop and report to
 * runs, and the alarm on failed runs.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { planDefinition as corePlanDefinition } from "../../packages/core/src/plans/asl.js";
import { BUILTIN_AGENTS } from "../../stacks/agents.js";
import { PLAN_ASL_FILE, PLAN_RUNNER_PLACEHOLDER, planDefinitionBody } from "../../stacks/plans.js";
import {
  ACCOUNT,
  APP_NAME,
  agentFunction,
  allStatements,
  asArray,
  EXECUTION_ARNS,
  env,
  isObject,
  type JsonObject,
  nexusFunctions,
  obj,
  onlyFunction,
  PREFIX,
  props,
  queueByName,
  REGION,
  ROOT,
  refOf,
  render,
  resources,
  roleOf,
  roleStatements,
  STAGE,
  STATE_MACHINE_ARN,
  STATE_MACHINE_NAME,
  schedulerRoleId,
  stateMachineId,
  stateMachineRole,
  synthesizeApp,
} from "./synth.js";

synthesizeApp();

/** Every Task state of a definition, Map iterations' included. */
function taskStates(states: JsonObject): Array<[string, JsonObject]> {
  return Object.entries(states).flatMap(([name, v]) => {
    const state = obj(v, name);
    const inner = isObject(state.ItemProcessor) ? taskStates(obj(state.ItemProcessor.States, `${name}.States`)) : [];
    return [...(state.Type === "Task" ? [[name, state] as [string, JsonObject]] : []), ...inner];
  });
}

describe("plans", () => {
  const runner = () => onlyFunction("functions/plans.handler");
  const statesStatements = () =>
    allStatements().filter(({ statement }) => statement.Action.some((a) => a.toLowerCase().startsWith("states:")));
  /** The roles whose statements allow `action`, and on what (rendered). */
  const allowing = (action: string) => {
    const found = statesStatements().filter(
      ({ statement }) => statement.Effect === "Allow" && statement.Action.includes(action),
    );
    return {
      roles: found.flatMap(({ roles }) => roles).sort(),
      resources: new Set(found.flatMap(({ statement }) => statement.Resource.map(render))),
    };
  };
  const agentRoles = () => BUILTIN_AGENTS.map((a) => roleOf(agentFunction(a.id)));
  const apiRole = () => roleOf(onlyFunction("functions/api.handler"));

  it("run on a STANDARD state machine with a fixed name, whose ARN the functions are given", () => {
    const p = props(stateMachineId());
    expect(p.StateMachineType).toBe("STANDARD");
    expect(p.StateMachineName).toBe(STATE_MACHINE_NAME);
    expect(STATE_MACHINE_NAME).toBe(`${APP_NAME}-${STAGE}-plans`);
    // The API and the schedule function (plan targets) start runs; they, the runner and the sweeper (which settles
    // runs whose execution ended) need the state machine's ARN.
    const given = [
      onlyFunction("functions/api.handler"),
      runner(),
      onlyFunction("functions/schedule.handler"),
      onlyFunction("functions/sweeper.handler"),
    ];
    for (const fn of given) {
      expect(render(env(fn).NEXUS_STATE_MACHINE_ARN), fn).toBe(STATE_MACHINE_ARN);
    }
    for (const [fn] of nexusFunctions()) {
      if (!given.includes(fn)) {
        expect(env(fn).NEXUS_STATE_MACHINE_ARN, fn).toBeUndefined();
      }
    }
  });

  it("log every execution event, with its data, to a log group of their own; X-Ray traces them", () => {
    const p = props(stateMachineId());
    const logging = obj(p.LoggingConfiguration, "LoggingConfiguration");
    expect(logging.Level).toBe("ALL");
    expect(logging.IncludeExecutionData).toBe(true);
    const destinations = asArray(logging.Destinations).map((d) => obj(d, "Destination"));
    expect(destinations).toHaveLength(1);
    const logGroup = refOf(obj(destinations[0]?.CloudWatchLogsLogGroup, "CloudWatchLogsLogGroup").LogGroupArn);
    expect(logGroup?.endsWith(".Arn")).toBe(true);
    const logGroupId = String(logGroup).slice(0, -".Arn".length);
    expect(resources[logGroupId]?.Type).toBe("AWS::Logs::LogGroup");
    expect(props(logGroupId).RetentionInDays).toBe(30);
    expect(props(logGroupId).LogGroupName).toBe(`/aws/vendedlogs/states/${STATE_MACHINE_NAME}`);
    expect(resources[logGroupId]?.DeletionPolicy).toBe("Retain");
    // No function logs there.
    for (const [fn] of nexusFunctions()) {
      expect(refOf(obj(props(fn).LoggingConfig, "LoggingConfig").LogGroup), fn).not.toBe(logGroupId);
    }
    expect(p.TracingConfiguration).toEqual({ Enabled: true });
  });

  it("are defined by the repository's ASL file, every Task state invoking the plan runner", () => {
    const p = props(stateMachineId());
    // Inline, not an S3 asset: the template holds the definition that runs.
    expect(p.DefinitionS3Location).toBeUndefined();
    const deployed = JSON.parse(String(p.DefinitionString)) as JsonObject;
    const file = JSON.parse(readFileSync(path.join(ROOT, PLAN_ASL_FILE), "utf8")) as JsonObject;
    expect(deployed).toEqual(file);
    expect(p.DefinitionSubstitutions).toEqual({ [PLAN_RUNNER_PLACEHOLDER]: { "Fn::GetAtt": [runner(), "Arn"] } });
    // CloudFormation substitutes every ${…} of the definition: the runner's ARN is the only one there is.
    expect(new Set([...String(p.DefinitionString).matchAll(/\$\{([^}]*)\}/g)].map(([, name]) => name))).toEqual(
      new Set([PLAN_RUNNER_PLACEHOLDER]),
    );
    const tasks = taskStates(obj(deployed.States, "States"));
    expect(tasks.length).toBeGreaterThan(0);
    for (const [name, state] of tasks) {
      expect(String(state.Resource), name).toMatch(/^arn:aws:states:::lambda:invoke(\.waitForTaskToken)?$/);
      expect(obj(state.Parameters, `${name}.Parameters`).FunctionName, name).toBe(`\${${PLAN_RUNNER_PLACEHOLDER}}`);
    }
    // The same definition the local runtime runs (packages/core/src/plans/asl.ts), once substituted.
    const substituted = JSON.parse(
      String(p.DefinitionString).replaceAll(`\${${PLAN_RUNNER_PLACEHOLDER}}`, "arn:runner"),
    ) as JsonObject;
    expect(substituted).toEqual(corePlanDefinition({ [PLAN_RUNNER_PLACEHOLDER]: "arn:runner" }));
  });

  it("refuse a definition with another placeholder than the runner's ARN (the synth fails)", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "nexus-asl-"));
    try {
      const file = path.join(dir, PLAN_ASL_FILE);
      mkdirSync(path.dirname(file), { recursive: true });
      const write = (text: string) => writeFileSync(file, text);
      const placeholder = (name: string) => `\${${name}}`;
      const valid = {
        StartAt: "A",
        States: { A: { Type: "Pass", Comment: placeholder(PLAN_RUNNER_PLACEHOLDER), End: true } },
      };
      write(JSON.stringify(valid, null, 2));
      expect(JSON.parse(planDefinitionBody(dir))).toEqual(valid);
      write(JSON.stringify({ ...valid, Comment: placeholder("Other") }));
      expect(() => planDefinitionBody(dir)).toThrow(/Other/);
      write(JSON.stringify({ StartAt: "A", States: {} }));
      expect(() => planDefinitionBody(dir)).toThrow(/PlanRunnerArn/);
      write('{"StartAt": ');
      expect(() => planDefinitionBody(dir)).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("let the state machine's role invoke the plan runner and no other function", () => {
    const role = stateMachineRole();
    const trust = asArray(obj(props(role).AssumeRolePolicyDocument, "AssumeRolePolicyDocument").Statement);
    expect(trust).toEqual([
      expect.objectContaining({ Effect: "Allow", Principal: { Service: "states.amazonaws.com" } }),
    ]);
    const statements = roleStatements(role).filter((s) => s.Effect === "Allow");
    const lambda = statements.filter((s) => s.Action.some((a) => a.startsWith("lambda:")));
    expect(lambda.map((s) => ({ Action: s.Action, Resource: s.Resource.map(render) }))).toEqual([
      { Action: ["lambda:InvokeFunction"], Resource: [`\${${runner()}.Arn}`, `\${${runner()}.Arn}:*`] },
    ]);
    // Besides: log delivery and X-Ray (on "*", see "iam"). Nothing else.
    const services = new Set(statements.flatMap((s) => s.Action.map((a) => a.split(":")[0])));
    expect(services).toEqual(new Set(["lambda", "logs", "xray"]));
    // And no other role may invoke any function, but EventBridge Scheduler's (the schedule function only; see "schedules").
    const invokers = allStatements().filter(({ statement }) => statement.Action.includes("lambda:InvokeFunction"));
    expect(invokers.map(({ roles }) => roles).sort()).toEqual([[role], [schedulerRoleId()]].sort());
  });

  it("let exactly the agents, the plan runner and the API send task results (the sweeper failures); heartbeats only agents, the API (remote workers) and the sweeper (backlogs)", () => {
    const senders = [...agentRoles(), roleOf(runner()), apiRole()];
    const sweeperRole = roleOf(onlyFunction("functions/sweeper.handler"));
    for (const [action, roles] of [
      ["states:SendTaskSuccess", senders],
      ["states:SendTaskFailure", [...senders, sweeperRole]],
    ] as const) {
      const allowed = allowing(action);
      expect(allowed.roles, action).toEqual([...roles].sort());
      expect(allowed.resources, action).toEqual(new Set([STATE_MACHINE_ARN]));
    }
    const heartbeat = allowing("states:SendTaskHeartbeat");
    expect(heartbeat.roles).toEqual([...agentRoles(), apiRole(), sweeperRole].sort());
    expect(heartbeat.resources).toEqual(new Set([STATE_MACHINE_ARN]));
  });

  it("let only the API, the schedule function and the sweeper start runs (on the state machine); the API stop them, it and the sweeper describe them", () => {
    const sweeperRole = roleOf(onlyFunction("functions/sweeper.handler"));
    expect(allowing("states:StartExecution")).toEqual({
      roles: [apiRole(), roleOf(onlyFunction("functions/schedule.handler")), sweeperRole].sort(),
      resources: new Set([STATE_MACHINE_ARN]),
    });
    expect(allowing("states:StopExecution")).toEqual({ roles: [apiRole()], resources: new Set([EXECUTION_ARNS]) });
    expect(allowing("states:DescribeExecution")).toEqual({
      roles: [apiRole(), sweeperRole].sort(),
      resources: new Set([EXECUTION_ARNS]),
    });
    // No other Step Functions action anywhere, and none denied either.
    const actions = new Set(statesStatements().flatMap(({ statement }) => statement.Action));
    expect(actions).toEqual(
      new Set([
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "states:SendTaskHeartbeat",
        "states:StartExecution",
        "states:StopExecution",
        "states:DescribeExecution",
      ]),
    );
    expect(statesStatements().every(({ statement }) => statement.Effect === "Allow")).toBe(true);
  });

  it("let the plan runner dispatch steps to every agent queue, built-in or custom, and do nothing else with SQS", () => {
    const sqs = roleStatements(roleOf(runner())).filter((s) => s.Action.some((a) => a.startsWith("sqs:")));
    expect(new Set(sqs.flatMap((s) => s.Action))).toEqual(new Set(["sqs:SendMessage"]));
    expect(sqs.flatMap((s) => s.Resource.map(render)).sort()).toEqual(
      [
        ...BUILTIN_AGENTS.map((a) => `\${${queueByName(`${PREFIX}${a.id}`)}.Arn}`),
        `arn:\${AWS::Partition}:sqs:${REGION}:${ACCOUNT}:${PREFIX}*`,
      ].sort(),
    );
  });
});
