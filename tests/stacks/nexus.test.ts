import { getStack } from "sst/constructs";
import { useProject } from "sst/project.js";
import { describe, expect, it } from "vitest";
import { builtinSpecs } from "../../packages/agents/src/specs.js";
import { INDEXES, TABLE_KEYS } from "../../packages/core/src/storage/table.js";
import { BUILTIN_AGENTS } from "../../stacks/agents.js";
import { Nexus } from "../../stacks/Nexus.js";
import { isEphemeralStage, MAX_QUEUE_PREFIX_LENGTH, queuePrefix } from "../../stacks/settings.js";
import { TTL_ATTRIBUTE } from "../../stacks/table.js";
import {
  APP_NAME,
  agentById,
  asArray,
  type CfnResource,
  env,
  functionByHandler,
  nexusFunctions,
  obj,
  ofType,
  outputs,
  PREFIX,
  props,
  queueByName,
  refOf,
  render,
  resources,
  roleOf,
  STAGE,
  secretByName,
  stateMachineId,
  synthesizeApp,
  template,
} from "./synth.js";

synthesizeApp();

describe("app config", () => {
  it("is the nexus app", () => {
    expect(useProject().config.name).toBe(APP_NAME);
    expect(getStack(Nexus).stackName).toBe(`${STAGE}-${APP_NAME}-Nexus`);
  });

  it("refuses app and stage names too long for the queue names in the functions' environments", () => {
    const stage = "s".repeat(MAX_QUEUE_PREFIX_LENGTH - `${APP_NAME}--agent-`.length);
    expect(queuePrefix(APP_NAME, stage)).toHaveLength(MAX_QUEUE_PREFIX_LENGTH);
    expect(() => queuePrefix(APP_NAME, `${stage}x`)).toThrow(/too long/);
  });

  it("treats dev/local/test stages as ephemeral and every other stage as durable", () => {
    for (const stage of ["dev", "dev-alice", "local", "test", "test-42"]) expect(isEphemeralStage(stage)).toBe(true);
    for (const stage of ["prod", "production", "staging", "alice"]) expect(isEphemeralStage(stage)).toBe(false);
  });
});

describe("table", () => {
  it("has the key shape of packages/core/src/storage/table.ts", () => {
    expect(ofType("AWS::DynamoDB::Table")).toHaveLength(1);
    const keyAttributes = new Set([
      TABLE_KEYS.partitionKey,
      TABLE_KEYS.sortKey,
      ...INDEXES.flatMap((index) => Object.values(index.keys)),
    ]);
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      KeySchema: [
        { AttributeName: TABLE_KEYS.partitionKey, KeyType: "HASH" },
        { AttributeName: TABLE_KEYS.sortKey, KeyType: "RANGE" },
      ],
      BillingMode: "PAY_PER_REQUEST",
      GlobalSecondaryIndexes: INDEXES.map((index) => ({
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.keys.partitionKey, KeyType: "HASH" },
          { AttributeName: index.keys.sortKey, KeyType: "RANGE" },
        ],
        Projection: { ProjectionType: index.projection },
      })),
    });
    const [[tableId]] = ofType("AWS::DynamoDB::Table") as [[string, CfnResource]];
    const definitions = asArray(props(tableId).AttributeDefinitions).map((d) => obj(d, "AttributeDefinition"));
    expect(definitions.map((d) => d.AttributeName).sort()).toEqual([...keyAttributes].sort());
    expect(new Set(definitions.map((d) => d.AttributeType))).toEqual(new Set(["S"]));
  });

  it("lists tasks through indexes of their own that project keys only; the others project all", () => {
    const [[tableId]] = ofType("AWS::DynamoDB::Table") as [[string, CfnResource]];
    const indexes = asArray(props(tableId).GlobalSecondaryIndexes).map((i) => obj(i, "GlobalSecondaryIndex"));
    const projections = Object.fromEntries(
      indexes.map((i) => [i.IndexName, obj(i.Projection, "Projection").ProjectionType]),
    );
    expect(projections).toEqual({
      GSI1: "ALL",
      GSI2: "ALL",
      GSI3: "ALL",
      GSI4: "ALL",
      TASKS_ALL: "KEYS_ONLY",
      TASKS_AGENT: "KEYS_ONLY",
      TASKS_STATUS: "KEYS_ONLY",
      TASKS_AGENT_STATUS: "KEYS_ONLY",
    });
  });

  it("has point-in-time recovery, TTL, and is retained and deletion-protected outside ephemeral stages", () => {
    template.hasResource("AWS::DynamoDB::Table", {
      DeletionPolicy: "Retain",
      UpdateReplacePolicy: "Retain",
      Properties: {
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
        DeletionProtectionEnabled: true,
      },
    });
  });
});

describe("functions", () => {
  it("all run on nodejs24.x", () => {
    const lambdas = ofType("AWS::Lambda::Function");
    expect(lambdas.length).toBeGreaterThanOrEqual(3 + BUILTIN_AGENTS.length);
    for (const [id, r] of lambdas) expect(r.Properties?.Runtime, id).toBe("nodejs24.x");
  });

  it("are the api, the sweeper, the failures ingester, the plan runner, the scheduler, the probe, the alarm chat (NEXUS_ALARM_CHAT is set here) and one consumer per built-in agent", () => {
    expect(functionByHandler("functions/api.handler")).toHaveLength(1);
    expect(functionByHandler("functions/sweeper.handler")).toHaveLength(1);
    expect(functionByHandler("functions/plans.handler")).toHaveLength(1);
    expect(functionByHandler("functions/schedule.handler")).toHaveLength(1);
    expect(functionByHandler("functions/probe.handler")).toHaveLength(1);
    expect(functionByHandler("functions/failures.handler")).toHaveLength(1);
    expect(functionByHandler("functions/alarm-chat.handler")).toHaveLength(1);
    for (const { id } of BUILTIN_AGENTS) expect(functionByHandler(`functions/agents/${id}.handler`)).toHaveLength(1);
    expect(nexusFunctions()).toHaveLength(7 + BUILTIN_AGENTS.length);
  });

  it("consume the queues of exactly the built-in agents the API registers (packages/agents/src/specs.ts)", () => {
    expect(BUILTIN_AGENTS.map((a) => a.id).sort()).toEqual(builtinSpecs.map((spec) => spec.id).sort());
  });

  it("each have a role of their own", () => {
    const roles = nexusFunctions().map(([fn]) => roleOf(fn));
    expect(new Set(roles).size).toBe(roles.length);
  });

  it("are arm64 (unless the agent says otherwise), actively traced, log JSON to their own log group, the platform's records only from WARN", () => {
    for (const [id, r] of nexusFunctions()) {
      const p = r.Properties ?? {};
      const agentId = env(id).NEXUS_AGENT_ID;
      const architecture = typeof agentId === "string" ? agentById(agentId).architecture : undefined;
      expect(p.Architectures, id).toEqual([architecture === "x86_64" ? "x86_64" : "arm64"]);
      expect(p.TracingConfig, id).toEqual({ Mode: "Active" });
      const logging = obj(p.LoggingConfig, `${id}.LoggingConfig`);
      expect(logging.LogFormat, id).toBe("JSON");
      expect(logging.SystemLogLevel, id).toBe("WARN");
      const logGroup = refOf(logging.LogGroup);
      expect(logGroup && resources[logGroup]?.Type, id).toBe("AWS::Logs::LogGroup");
      expect(props(logGroup as string).RetentionInDays, id).toBe(30);
    }
  });

  it("get the table, the queue prefix, the stage and the built-in queues in their environment", () => {
    const [[tableId]] = ofType("AWS::DynamoDB::Table") as [[string, CfnResource]];
    for (const [id] of nexusFunctions()) {
      const vars = env(id);
      expect(refOf(vars.NEXUS_TABLE), id).toBe(tableId);
      expect(vars.NEXUS_QUEUE_PREFIX, id).toBe(PREFIX);
      expect(vars.NEXUS_STAGE, id).toBe(STAGE);
      const builtin = JSON.parse(render(vars.NEXUS_BUILTIN_QUEUES)) as Record<string, Record<string, string>>;
      expect(Object.keys(builtin).sort(), id).toEqual(BUILTIN_AGENTS.map((a) => a.id).sort());
      for (const agent of BUILTIN_AGENTS) {
        const queue = queueByName(`${PREFIX}${agent.id}`);
        const dlq = queueByName(`${PREFIX}${agent.id}-dlq`);
        // Ref of an SQS queue is its URL.
        expect(builtin[agent.id], `${id} ${agent.id}`).toEqual({
          url: `\${${queue}}`,
          arn: `\${${queue}.Arn}`,
          dlqUrl: `\${${dlq}}`,
          dlqArn: `\${${dlq}.Arn}`,
        });
      }
    }
  });
});

describe("function environments", () => {
  it("fit Lambda's 4 KB limit at the longest app and stage names the stack accepts", () => {
    // Queue names are `<app>-<stage>-agent-<id>` and `…-dlq`: the longest app and stage names the stack accepts make
    // the queue prefix MAX_QUEUE_PREFIX_LENGTH characters long, `extra` more than here (and every queue name at most
    // 80 characters, SQS's limit). Each reference counts as its longest value then: a queue URL https://sqs.<region>.amazonaws.com.cn/<account>/<name> or ARN
    // arn:aws-us-gov:sqs:<region>:<account>:<name> (regions have up to 14 characters), an event source mapping's id
    // (a UUID), anything else (a secret's ARN, the table's name) 160 characters. Literal text counts `extra` more
    // characters wherever the app or the stage name appears in it.
    const queueNames = ofType("AWS::SQS::Queue").map(([, r]) => String(r.Properties?.QueueName));
    const extra = MAX_QUEUE_PREFIX_LENGTH - PREFIX.length;
    expect(Math.max(...queueNames.map((name) => name.length)) + extra).toBeLessThanOrEqual(80);
    const REGION_MAX = 14;
    const ACCOUNT_LENGTH = 12;
    const longest = (ref: string): number => {
      const [id, attribute] = ref.split(".");
      const resource = resources[id as string];
      if (resource?.Type === "AWS::SQS::Queue") {
        const name = String(resource.Properties?.QueueName).length + extra;
        return attribute === "Arn"
          ? "arn:aws-us-gov:sqs:".length + REGION_MAX + 1 + ACCOUNT_LENGTH + 1 + name
          : "https://sqs.".length + REGION_MAX + ".amazonaws.com.cn/".length + ACCOUNT_LENGTH + 1 + name;
      }
      if (resource?.Type === "AWS::Lambda::EventSourceMapping") return 36;
      if (resource?.Type === "AWS::S3::Bucket") return 63; // S3's longest bucket name
      return 160;
    };
    const occurrences = (text: string, word: string) => text.split(word).length - 1;
    for (const [fn] of nexusFunctions()) {
      const size = Object.entries(env(fn)).reduce((total, [name, value]) => {
        const text = render(value);
        let refs = 0;
        const literal = text.replace(/\$\{([\w.]+)\}/g, (_, ref: string) => {
          refs += longest(ref);
          return "";
        });
        const grown = (occurrences(literal, STAGE) + occurrences(literal, APP_NAME)) * extra;
        return total + name.length + literal.length + grown + refs;
      }, 0);
      expect(size, fn).toBeLessThanOrEqual(4096); // Lambda: "cannot exceed 4 KB"
    }
  });
});

describe("outputs", () => {
  it("exports the secrets' ARNs (not their values)", () => {
    expect(outputs.AdminKeySecretArn?.Value).toEqual({ Ref: secretByName("admin-key") });
    const secrets = new Set(ofType("AWS::SecretsManager::Secret").map(([id]) => id));
    const exported = Object.values(outputs)
      .map((o) => refOf(o.Value))
      .filter((ref): ref is string => ref !== undefined && secrets.has(ref));
    expect(new Set(exported)).toEqual(secrets);
  });

  it("exports the plan state machine's ARN", () => {
    expect(outputs.PlanStateMachineArn?.Value).toEqual({ Ref: stateMachineId() });
  });

  it("exports the API URL, the table name and every queue URL", () => {
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(["ApiUrl", "TableName", "AdminKeySecretArn"]));
    for (const agent of BUILTIN_AGENTS) {
      const queue = queueByName(`${PREFIX}${agent.id}`);
      const dlq = queueByName(`${PREFIX}${agent.id}-dlq`);
      const values = Object.values(outputs).map((o) => refOf(o.Value));
      expect(values).toEqual(expect.arrayContaining([queue, dlq]));
    }
  });
});
