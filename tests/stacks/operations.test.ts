import { describe, expect, it } from "vitest";
import { contextFromEnv } from "../../packages/core/src/context.js";
import { metricsNamespace } from "../../packages/core/src/metrics.js";
import { BUILTIN_AGENTS } from "../../stacks/agents.js";
import { healthSettingsEnv } from "../../stacks/settings.js";
import {
  agentQueueStatements,
  allStatements,
  env,
  expectScheduled,
  nexusFunctions,
  ofType,
  onlyFunction,
  PREFIX,
  props,
  queueByName,
  render,
  roleOf,
  roleStatements,
  STAGE,
  type Statement,
  synthesizeApp,
} from "./synth.js";

synthesizeApp();

describe("sweeper", () => {
  it("runs every 5 minutes on an EventBridge rule", () => {
    const sweeper = onlyFunction("functions/sweeper.handler");
    expect(props(sweeper).Timeout).toBe(120);
    expectScheduled(sweeper, "rate(5 minutes)");
  });
});

describe("agent health", () => {
  const mappings = () => ofType("AWS::Lambda::EventSourceMapping").map(([id]) => id);

  it("probes the built-in agents every 5 minutes from a function of its own, on an EventBridge rule", () => {
    const probe = onlyFunction("functions/probe.handler");
    expectScheduled(probe, "rate(5 minutes)");
  });

  it("lets the probe submit tasks to the built-in agents' queues and nothing else (no DLQ, no custom queue)", () => {
    const probe = onlyFunction("functions/probe.handler");
    const statements = roleStatements(roleOf(probe));
    const sqs = agentQueueStatements(probe);
    expect(new Set(sqs.flatMap((s) => s.Action))).toEqual(new Set(["sqs:SendMessage"]));
    const queues = BUILTIN_AGENTS.map((a) => `\${${queueByName(`${PREFIX}${a.id}`)}.Arn}`);
    expect(sqs.flatMap((s) => s.Resource.map(render)).sort()).toEqual(queues.sort());
    const services = new Set(statements.flatMap((s) => s.Action.map((a) => a.split(":")[0])));
    expect([...services].sort()).toEqual(["dynamodb", "logs", "sqs", "xray"]);
  });

  it("lets the sweeper read and switch exactly the built-in agents' event source mappings, which it is given", () => {
    const sweeper = onlyFunction("functions/sweeper.handler");
    const lambda = roleStatements(roleOf(sweeper)).filter((s) => s.Action.some((a) => a.startsWith("lambda:")));
    expect(lambda).toHaveLength(1);
    const [statement] = lambda as [Statement];
    expect(new Set(statement.Action)).toEqual(
      new Set(["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"]),
    );
    expect(mappings()).toHaveLength(BUILTIN_AGENTS.length);
    const resources = JSON.stringify(statement.Resource);
    for (const id of mappings()) expect(resources).toContain(id);
    expect(statement.Resource).toHaveLength(BUILTIN_AGENTS.length);
    const consumers = JSON.stringify(env(sweeper).NEXUS_BUILTIN_CONSUMERS);
    for (const id of mappings()) expect(consumers).toContain(id);
    for (const { id } of BUILTIN_AGENTS) expect(consumers).toMatch(new RegExp(`\\W${id}\\W`));
  });

  it("emits metrics as EMF in the functions' logs, under Nexus/<stage> derived from NEXUS_STAGE", () => {
    for (const [id] of nexusFunctions()) {
      expect(metricsNamespace(String(env(id).NEXUS_STAGE)), id).toBe(`Nexus/${STAGE}`);
      expect(env(id).POWERTOOLS_METRICS_NAMESPACE, id).toBeUndefined();
    }
    // EMF records are log lines: no function needs cloudwatch:PutMetricData
    expect(
      allStatements().filter(({ statement }) => statement.Action.some((a) => a.startsWith("cloudwatch:"))),
    ).toEqual([]);
  });

  it("lets the api read every built-in agent's DLQ depth, and each agent its own DLQ's", () => {
    const statements = roleStatements(roleOf(onlyFunction("functions/api.handler")));
    const reading = statements
      .filter((s) => s.Effect === "Allow" && s.Action.includes("sqs:GetQueueAttributes"))
      .flatMap((s) => s.Resource.map(render));
    for (const { id } of BUILTIN_AGENTS) {
      expect(reading).toContain(`\${${queueByName(`${PREFIX}${id}-dlq`)}.Arn}`);
      expect(reading).toContain(`\${${queueByName(`${PREFIX}${id}`)}.Arn}`);
    }
  });

  it("takes its thresholds from NEXUS_HEALTH in the deploying shell, as the functions parse them; bad ones fail the synth", () => {
    // unset here: no function gets the variable, and the defaults apply
    for (const [fn] of nexusFunctions()) expect(env(fn).NEXUS_HEALTH, fn).toBeUndefined();
    expect(healthSettingsEnv({})).toEqual({ environment: {}, probeIntervalMinutes: 5 });
    const set = healthSettingsEnv({ NEXUS_HEALTH: ' { "offlineIntervals": 4, "probeIntervalSeconds": 120 } ' });
    expect(set.probeIntervalMinutes).toBe(2);
    const ctx = contextFromEnv({ NEXUS_TABLE: "t", NEXUS_QUEUE_PREFIX: PREFIX, ...set.environment });
    expect(ctx.settings.health).toEqual({
      onlineIntervals: 2,
      offlineIntervals: 4,
      errorRate: 0.5,
      minSamples: 4,
      probeIntervalSeconds: 120,
    });
    for (const bad of [
      "{",
      "[]",
      '{"errorRate": 2}',
      '{"onlineIntervals": 3, "offlineIntervals": 2}',
      '{"probeIntervalSeconds": 90}',
      '{"offline": 3}',
    ]) {
      expect(() => healthSettingsEnv({ NEXUS_HEALTH: bad }), bad).toThrow(/NEXUS_HEALTH/);
    }
  });
});
