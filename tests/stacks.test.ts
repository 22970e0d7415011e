/**
 * Synthesizes the real app (sst.config.ts → stacks/Nexus.ts) in-process, offline, and checks the template.
 *
 * SST's `finish()` bundles every function handler with esbuild (as `sst deploy` does) and SST writes build
 * output under `<root>/.sst`; both are redirected to a temp dir here. `initProject` still creates an empty
 * `<root>/.sst/` and briefly writes `<root>/.sst.config.<timestamp>.mjs` while loading the config.
 * The cloud assembly (with the research agent's Chromium layer asset, ~66 MB) goes to the temp dir too, which is
 * deleted afterwards.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Aspects, App as CdkApp, Stack as CdkStack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import type { SynthesisMessage } from "aws-cdk-lib/cx-api";
import { AwsSolutionsChecks } from "cdk-nag";
import { App, getStack } from "sst/constructs";
import { initProject, setProject, useProject } from "sst/project.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSender } from "../packages/agents/src/comms/config.js";
import { DEFAULT_WORKSPACE_DIR } from "../packages/agents/src/ops/config.js";
import { builtinSpecs } from "../packages/agents/src/specs.js";
import { PLANNER_CONFIG } from "../packages/agents/src/strategy/providers.js";
import { contextFromEnv } from "../packages/core/src/context.js";
import { DEFAULT_DAILY_CAPS } from "../packages/core/src/limits.js";
import { planDefinition as corePlanDefinition } from "../packages/core/src/plans/asl.js";
import { schedulerResources } from "../packages/core/src/schedules/names.js";
import { RETRY_POLICY, scheduleInput } from "../packages/core/src/schedules/triggers.js";
import { GSIS, gsiKeys, TABLE_KEYS } from "../packages/core/src/storage/table.js";
import config from "../sst.config.js";
import {
  ACCESS_LOG_FORMAT,
  ARTIFACT_RETENTION_DAYS,
  apiSettingsEnv,
  BUILTIN_AGENTS,
  CHROMIUM_LAYER_DIR,
  chromiumBinDir,
  commsSettingsEnv,
  DEFAULT_BATCH_SIZE,
  healthSettingsEnv,
  isEphemeralStage,
  MAX_QUEUE_PREFIX_LENGTH,
  metricsNamespace,
  Nexus,
  OPS_WORKSPACE_DIR,
  opsSettingsEnv,
  PLAN_ASL_FILE,
  PLAN_RUNNER_PLACEHOLDER,
  planDefinitionBody,
  plannerAccess,
  plannerSettingsEnv,
  planStateMachineName,
  queuePrefix,
  SCREENSHOTS_PREFIX,
  scheduleGroupName,
  senderAddress,
  TTL_ATTRIBUTE,
  VISIBILITY_TIMEOUT_FACTOR,
} from "../stacks/Nexus.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
// A non-ephemeral stage, so the template is the production shape (retained, deletion-protected table).
const STAGE = "prod";
const REGION = "us-east-1";
const ACCOUNT = "123456789012";
const APP_NAME = "nexus";
const PREFIX = queuePrefix(APP_NAME, STAGE);
const STATE_MACHINE_NAME = planStateMachineName(APP_NAME, STAGE);
/** The plan state machine's ARN as the stack formats it (rendered): functions name it, not a reference to it. */
const STATE_MACHINE_ARN = `arn:\${AWS::Partition}:states:${REGION}:${ACCOUNT}:stateMachine:${STATE_MACHINE_NAME}`;
const EXECUTION_ARNS = `arn:\${AWS::Partition}:states:${REGION}:${ACCOUNT}:execution:${STATE_MACHINE_NAME}:*`;
/** The Bedrock model the planner is configured with while synthesizing here (a model id, not an inference profile). */
const PLANNER_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0";
/** Bundling eight functions (four of them with puppeteer-core) takes ~30 s here, more on a busy machine. */
const SYNTH_TIMEOUT_MS = 180_000;
/** Optional API settings the stack reads from the deploying shell; unset while synthesizing here. */
const SETTINGS_ENV = ["NEXUS_RATE_LIMIT_PER_MINUTE", "NEXUS_DAILY_CAPS", "NEXUS_HEALTH"] as const;
/** Agent settings the stack reads from the deploying shell: set (or, when undefined, unset) while synthesizing here. */
const AGENT_SETTINGS = {
  NEXUS_EMAIL_FROM: "Nexus Alerts <alerts@example.com>",
  NEXUS_SES_REGION: undefined,
  NEXUS_HTTP_ALLOW: "status.example.com, 10.0.0.5:8080",
  NEXUS_PLANNER_PROVIDER: "bedrock",
  NEXUS_PLANNER_MODEL: PLANNER_MODEL,
  NEXUS_PLANNER_URL: undefined,
} as const;
const SENDER_ADDRESS = "alerts@example.com";
/** What the research agent reads for the SSRF guard's exceptions: never set in AWS. */
const SSRF_ALLOW = "NEXUS_SSRF_ALLOW";

// ── CloudFormation JSON helpers ──────────────────────────────────────────────────────────────────────
type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
interface CfnResource {
  Type: string;
  Properties?: JsonObject;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  Metadata?: JsonObject;
}
interface Statement {
  Effect: "Allow" | "Deny";
  Action: string[];
  Resource: Json[];
  Condition?: Json;
}

const isObject = (v: Json | undefined): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
const asArray = (v: Json | undefined): Json[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const obj = (v: Json | undefined, what: string): JsonObject => {
  if (!isObject(v)) throw new Error(`${what}: expected an object, got ${JSON.stringify(v)}`);
  return v;
};
const num = (v: Json | undefined, what: string): number => {
  if (typeof v !== "number") throw new Error(`${what}: expected a number, got ${JSON.stringify(v)}`);
  return v;
};

/** `{ "Fn::GetAtt": [id, attr] }` → `id.attr`; `{ Ref: id }` → `id`; anything else → undefined. */
function refOf(v: Json | undefined): string | undefined {
  if (!isObject(v)) return undefined;
  const ref = v.Ref;
  if (typeof ref === "string") return ref;
  const getAtt = v["Fn::GetAtt"];
  if (Array.isArray(getAtt) && typeof getAtt[0] === "string" && typeof getAtt[1] === "string") {
    return `${getAtt[0]}.${getAtt[1]}`;
  }
  return undefined;
}

/** Renders a value with intrinsic functions as a string: refs become `${Id}` / `${Id.Attr}`. */
function render(v: Json | undefined): string {
  if (typeof v === "string") return v;
  const ref = refOf(v);
  if (ref !== undefined) return `\${${ref}}`;
  if (isObject(v) && Array.isArray(v["Fn::Join"])) {
    const [sep, parts] = v["Fn::Join"];
    if (typeof sep === "string" && Array.isArray(parts)) return parts.map(render).join(sep);
  }
  throw new Error(`cannot render ${JSON.stringify(v)}`);
}

// ── Synthesis (once) ─────────────────────────────────────────────────────────────────────────────────
let tmp: string;
let app: App;
let template: Template;
let resources: Record<string, CfnResource>;
let outputs: Record<string, JsonObject>;
let messages: SynthesisMessage[];

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const props = (id: string): JsonObject => {
  const resource = resources[id];
  if (!resource) throw new Error(`no resource ${id}`);
  return resource.Properties ?? {};
};
const env = (fnId: string): JsonObject => {
  const environment = props(fnId).Environment;
  return environment === undefined ? {} : obj(obj(environment, `${fnId}.Environment`).Variables, `${fnId}.Variables`);
};
/** Our functions carry NEXUS_STAGE; SST's internal custom resource handler does not. */
const nexusFunctions = () => ofType("AWS::Lambda::Function").filter(([id]) => env(id).NEXUS_STAGE !== undefined);
const functionByHandler = (handler: string): string[] =>
  nexusFunctions()
    .filter(([, r]) => r.Properties?.Handler === handler)
    .map(([id]) => id);
/** Asserts that exactly one enabled EventBridge rule invokes the function, on this schedule, and may. */
function expectScheduled(fn: string, expression: string) {
  const rules = ofType("AWS::Events::Rule").filter(([, r]) =>
    asArray(r.Properties?.Targets).some((t) => refOf(obj(t, "Target").Arn) === `${fn}.Arn`),
  );
  expect(rules, fn).toHaveLength(1);
  const [ruleId, rule] = rules[0] as [string, CfnResource];
  expect(rule.Properties?.ScheduleExpression, fn).toBe(expression);
  expect(rule.Properties?.State, fn).toBe("ENABLED");
  template.hasResourceProperties("AWS::Lambda::Permission", {
    Action: "lambda:InvokeFunction",
    Principal: "events.amazonaws.com",
    FunctionName: { "Fn::GetAtt": [fn, "Arn"] },
    SourceArn: { "Fn::GetAtt": [ruleId, "Arn"] },
  });
}

const onlyFunction = (handler: string): string => {
  const ids = functionByHandler(handler);
  expect(ids, `functions with handler ${handler}`).toHaveLength(1);
  return ids[0] as string;
};
/** The consumer function of a built-in agent. */
const agentFunction = (agentId: string): string => {
  const ids = nexusFunctions()
    .filter(([id]) => env(id).NEXUS_AGENT_ID === agentId)
    .map(([id]) => id);
  expect(ids, `consumers of ${agentId}`).toHaveLength(1);
  return ids[0] as string;
};
const agentById = (agentId: string) => {
  const agent = BUILTIN_AGENTS.find((a) => a.id === agentId);
  if (!agent) throw new Error(`no built-in agent ${agentId}`);
  return agent;
};
const secretByName = (name: string): string => {
  const ids = ofType("AWS::SecretsManager::Secret")
    .filter(([, r]) => r.Properties?.Name === `${APP_NAME}/${STAGE}/${name}`)
    .map(([id]) => id);
  expect(ids, `secret ${name}`).toHaveLength(1);
  return ids[0] as string;
};
const queueByName = (name: string): string => {
  const ids = ofType("AWS::SQS::Queue")
    .filter(([, r]) => r.Properties?.QueueName === name)
    .map(([id]) => id);
  expect(ids, `queue ${name}`).toHaveLength(1);
  return ids[0] as string;
};
const roleOf = (fnId: string): string => {
  const role = refOf(props(fnId).Role);
  if (!role?.endsWith(".Arn")) throw new Error(`${fnId} has no role in this template`);
  return role.slice(0, -".Arn".length);
};
/** The plan state machine (there is one). */
const stateMachineId = (): string => {
  const ids = ofType("AWS::StepFunctions::StateMachine").map(([id]) => id);
  expect(ids, "state machines").toHaveLength(1);
  return ids[0] as string;
};
const stateMachineRole = (): string => {
  const role = refOf(props(stateMachineId()).RoleArn);
  if (!role?.endsWith(".Arn")) throw new Error("the state machine has no role in this template");
  return role.slice(0, -".Arn".length);
};
const normalize = (s: JsonObject): Statement => ({
  Effect: s.Effect === "Deny" ? "Deny" : "Allow",
  Action: asArray(s.Action).map(String),
  Resource: asArray(s.Resource),
  ...(s.Condition === undefined ? {} : { Condition: s.Condition }),
});
const statementsOf = (document: Json | undefined): Statement[] =>
  asArray(obj(document, "PolicyDocument").Statement).map((s) => normalize(obj(s, "Statement")));
/** Every identity-policy statement that applies to the role (AWS::IAM::Policy attachments and inline policies). */
const roleStatements = (roleId: string): Statement[] => [
  ...ofType("AWS::IAM::Policy")
    .filter(([, r]) => asArray(r.Properties?.Roles).some((role) => refOf(role) === roleId))
    .flatMap(([, r]) => statementsOf(r.Properties?.PolicyDocument)),
  ...asArray(props(roleId).Policies).flatMap((p) => statementsOf(obj(p, "Policy").PolicyDocument)),
];
/**
 * Every policy statement in the template: identity policies, resource policies and trust policies. `roles`: the roles
 * an identity policy statement applies to (none for resource and trust policies).
 */
const allStatements = (): Array<{ where: string; statement: Statement; roles: string[] }> =>
  Object.entries(resources).flatMap(([id, r]) => {
    const p = r.Properties ?? {};
    const policyRoles =
      r.Type === "AWS::IAM::Policy" ? asArray(p.Roles).map((role) => refOf(role) ?? JSON.stringify(role)) : [];
    const documents: Array<[Json, string[]]> = [
      ...(p.PolicyDocument === undefined ? [] : [[p.PolicyDocument, policyRoles] as [Json, string[]]]),
      ...asArray(p.Policies).map((policy) => [obj(policy, "Policy").PolicyDocument ?? null, [id]] as [Json, string[]]),
      ...(p.AssumeRolePolicyDocument === undefined ? [] : [[p.AssumeRolePolicyDocument, []] as [Json, string[]]]),
    ].filter(([d]) => d !== null);
    return documents.flatMap(([d, roles]) =>
      statementsOf(d).map((statement) => ({ where: `${id} (${r.Type})`, statement, roles })),
    );
  });

beforeAll(async () => {
  process.env.NODE_ENV = "test"; // otherwise App.finish() waits for AWS (bootstrap lookups)
  // SST resolves handler paths against the cwd, and esbuild captures the cwd when it is first imported.
  if (process.cwd() !== ROOT) throw new Error(`run vitest from the repository root (${ROOT}), not ${process.cwd()}`);
  tmp = mkdtempSync(path.join(tmpdir(), "nexus-stacks-"));
  const shellEnv = [...SETTINGS_ENV, ...Object.keys(AGENT_SETTINGS), SSRF_ALLOW];
  const savedEnv = shellEnv.map((name) => [name, process.env[name]] as const);

  // Also loads .env, .env.local, .env.<stage>, .env.<stage>.local into process.env (overriding it), as `sst deploy` does.
  await initProject({ root: ROOT, stage: STAGE });
  for (const name of [...SETTINGS_ENV, SSRF_ALLOW]) delete process.env[name];
  for (const [name, value] of Object.entries(AGENT_SETTINGS)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  const project = useProject();
  setProject({ ...project, paths: { ...project.paths, out: tmp, artifacts: path.join(tmp, "artifacts") } });

  app = new App(
    { mode: "deploy", name: project.config.name, stage: STAGE, region: REGION, account: ACCOUNT },
    { outdir: path.join(tmp, "cdk.out") },
  );
  try {
    await config.stacks(app);
    await app.finish();
  } finally {
    for (const [name, value] of savedEnv) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }

  const stack = getStack(Nexus);
  template = Template.fromStack(stack);
  const json = template.toJSON();
  resources = json.Resources as Record<string, CfnResource>;
  outputs = (json.Outputs ?? {}) as Record<string, JsonObject>;
  // The assembly is cached: this does not synthesize a second time.
  messages = app.synth().getStackArtifact(stack.artifactId).messages;
}, SYNTH_TIMEOUT_MS);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// ── Tests ────────────────────────────────────────────────────────────────────────────────────────────
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
    const keyAttributes = [
      TABLE_KEYS.partitionKey,
      TABLE_KEYS.sortKey,
      ...GSIS.flatMap((g) => Object.values(gsiKeys(g))),
    ];
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      KeySchema: [
        { AttributeName: TABLE_KEYS.partitionKey, KeyType: "HASH" },
        { AttributeName: TABLE_KEYS.sortKey, KeyType: "RANGE" },
      ],
      BillingMode: "PAY_PER_REQUEST",
      GlobalSecondaryIndexes: GSIS.map((g) => ({
        IndexName: g,
        KeySchema: [
          { AttributeName: gsiKeys(g).partitionKey, KeyType: "HASH" },
          { AttributeName: gsiKeys(g).sortKey, KeyType: "RANGE" },
        ],
        Projection: { ProjectionType: "ALL" },
      })),
    });
    const [[tableId]] = ofType("AWS::DynamoDB::Table") as [[string, CfnResource]];
    const definitions = asArray(props(tableId).AttributeDefinitions).map((d) => obj(d, "AttributeDefinition"));
    expect(definitions.map((d) => d.AttributeName).sort()).toEqual([...keyAttributes].sort());
    expect(new Set(definitions.map((d) => d.AttributeType))).toEqual(new Set(["S"]));
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

  it("are the api, the sweeper, the failures ingester, the plan runner, the scheduler, the probe and one consumer per built-in agent", () => {
    expect(functionByHandler("functions/api.handler")).toHaveLength(1);
    expect(functionByHandler("functions/sweeper.handler")).toHaveLength(1);
    expect(functionByHandler("functions/plans.handler")).toHaveLength(1);
    expect(functionByHandler("functions/schedule.handler")).toHaveLength(1);
    expect(functionByHandler("functions/probe.handler")).toHaveLength(1);
    expect(functionByHandler("functions/failures.handler")).toHaveLength(1);
    for (const { id } of BUILTIN_AGENTS) expect(functionByHandler(`functions/agents/${id}.handler`)).toHaveLength(1);
    expect(nexusFunctions()).toHaveLength(6 + BUILTIN_AGENTS.length);
  });

  it("consume the queues of exactly the built-in agents the API registers (packages/agents/src/specs.ts)", () => {
    expect(BUILTIN_AGENTS.map((a) => a.id).sort()).toEqual(builtinSpecs.map((spec) => spec.id).sort());
  });

  it("each have a role of their own", () => {
    const roles = nexusFunctions().map(([fn]) => roleOf(fn));
    expect(new Set(roles).size).toBe(roles.length);
  });

  it("are arm64 (unless the agent says otherwise), actively traced, log JSON to their own log group", () => {
    for (const [id, r] of nexusFunctions()) {
      const p = r.Properties ?? {};
      const agentId = env(id).NEXUS_AGENT_ID;
      const architecture = typeof agentId === "string" ? agentById(agentId).architecture : undefined;
      expect(p.Architectures, id).toEqual([architecture === "x86_64" ? "x86_64" : "arm64"]);
      expect(p.TracingConfig, id).toEqual({ Mode: "Active" });
      const logging = obj(p.LoggingConfig, `${id}.LoggingConfig`);
      expect(logging.LogFormat, id).toBe("JSON");
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
      expect(size, fn).toBeLessThan(4096);
    }
  });
});

describe("built-in agent queues", () => {
  it.each(BUILTIN_AGENTS.map((a) => [a.id, a] as const))("%s: queue + DLQ, bounded redrive, SSE, TLS only", (id) => {
    const queue = queueByName(`${PREFIX}${id}`);
    const dlq = queueByName(`${PREFIX}${id}-dlq`);
    const redrive = obj(props(queue).RedrivePolicy, "RedrivePolicy");
    expect(refOf(redrive.deadLetterTargetArn)).toBe(`${dlq}.Arn`);
    const maxReceiveCount = num(redrive.maxReceiveCount, "maxReceiveCount");
    expect(maxReceiveCount).toBeGreaterThanOrEqual(1);
    expect(maxReceiveCount).toBeLessThanOrEqual(10);
    expect(props(dlq).MessageRetentionPeriod).toBe(14 * 24 * 3600);
    expect(props(dlq).RedrivePolicy).toBeUndefined();

    for (const q of [queue, dlq]) {
      expect(props(q).SqsManagedSseEnabled, q).toBe(true);
      const policies = ofType("AWS::SQS::QueuePolicy").filter(([, r]) =>
        asArray(r.Properties?.Queues).some((x) => refOf(x) === q),
      );
      const denyInsecure = policies
        .flatMap(([, r]) => statementsOf(r.Properties?.PolicyDocument))
        .filter((s) => s.Effect === "Deny" && JSON.stringify(s.Condition).includes('"aws:SecureTransport":"false"'));
      expect(denyInsecure, `${q} enforces TLS`).toHaveLength(1);
    }
  });

  it.each(BUILTIN_AGENTS.map((a) => [a.id, a] as const))(
    "%s: consumer reports batch item failures; visibility timeout >= 6x its timeout",
    (id, agent) => {
      const queue = queueByName(`${PREFIX}${id}`);
      const mappings = ofType("AWS::Lambda::EventSourceMapping").filter(
        ([, r]) => refOf(r.Properties?.EventSourceArn) === `${queue}.Arn`,
      );
      expect(mappings).toHaveLength(1);
      const mapping = (mappings[0] as [string, CfnResource])[1].Properties ?? {};
      expect(mapping.FunctionResponseTypes).toEqual(["ReportBatchItemFailures"]);
      const batchSize = agent.batchSize ?? DEFAULT_BATCH_SIZE;
      expect(mapping.BatchSize).toBe(batchSize);
      expect(mapping.MaximumBatchingWindowInSeconds).toBe(batchSize > 1 ? 1 : undefined);

      const fn = refOf(mapping.FunctionName);
      if (!fn) throw new Error("event source mapping has no function");
      expect(props(fn).Handler).toBe(`functions/agents/${id}.handler`);
      expect(env(fn).NEXUS_AGENT_ID).toBe(id);
      expect(fn).toBe(agentFunction(id));
      expect(props(fn).MemorySize).toBe(agent.memorySize);
      expect(props(fn).EphemeralStorage).toEqual({ Size: agent.diskSize ?? 512 });
      const timeout = num(props(fn).Timeout, "Timeout");
      expect(timeout).toBe(agent.timeout);
      expect(num(props(queue).VisibilityTimeout, "VisibilityTimeout")).toBeGreaterThanOrEqual(
        VISIBILITY_TIMEOUT_FACTOR * timeout,
      );
    },
  );
});

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
    const statements = roleStatements(roleOf(onlyFunction("functions/probe.handler")));
    const sqs = statements.filter((s) => s.Action.some((a) => a.startsWith("sqs:")));
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

  it("emits per-agent metrics under the app's and stage's namespace, as EMF in the sweeper's log", () => {
    const sweeper = onlyFunction("functions/sweeper.handler");
    expect(metricsNamespace(APP_NAME, STAGE)).toBe("nexus/prod");
    expect(env(sweeper).POWERTOOLS_METRICS_NAMESPACE).toBe("nexus/prod");
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

describe("api", () => {
  it("is an HTTP API whose $default route proxies to the api function", () => {
    const apiFn = onlyFunction("functions/api.handler");
    expect(props(apiFn).MemorySize).toBe(512);
    expect(props(apiFn).Timeout).toBe(29);
    const apis = ofType("AWS::ApiGatewayV2::Api");
    expect(apis).toHaveLength(1);
    expect((apis[0] as [string, CfnResource])[1].Properties?.ProtocolType).toBe("HTTP");

    const routes = ofType("AWS::ApiGatewayV2::Route");
    expect(routes.map(([, r]) => r.Properties?.RouteKey)).toEqual(["$default"]);
    const target = render((routes[0] as [string, CfnResource])[1].Properties?.Target);
    const integration = target.match(/^integrations\/\$\{(\w+)\}$/)?.[1];
    expect(integration && refOf(props(integration).IntegrationUri)).toBe(`${apiFn}.Arn`);
  });

  it("throttles by default and writes access logs", () => {
    const stages = ofType("AWS::ApiGatewayV2::Stage");
    expect(stages).toHaveLength(1);
    const stage = (stages[0] as [string, CfnResource])[1].Properties ?? {};
    expect(stage.StageName).toBe("$default");
    expect(stage.DefaultRouteSettings).toMatchObject({ ThrottlingBurstLimit: 100, ThrottlingRateLimit: 50 });
    const accessLog = obj(stage.AccessLogSettings, "AccessLogSettings");
    expect(accessLog.Format).toEqual(expect.stringContaining("$context.requestId"));
    const logGroup = refOf(accessLog.DestinationArn)?.replace(/\.Arn$/, "");
    expect(logGroup && resources[logGroup]?.Type).toBe("AWS::Logs::LogGroup");
    expect(props(logGroup as string).RetentionInDays).toBe(30);
  });

  it("logs no request header values (Authorization, User-Agent, Host), query string or body", () => {
    const [[, stage]] = ofType("AWS::ApiGatewayV2::Stage") as [[string, CfnResource]];
    const format = String(obj(stage.Properties?.AccessLogSettings, "AccessLogSettings").Format);
    expect(format).toBe(ACCESS_LOG_FORMAT);
    // One JSON object per request once the variables are substituted.
    const line = JSON.parse(format.replace(/\$context\.[\w.]+/g, "0")) as Record<string, unknown>;
    expect(Object.keys(line)).toEqual(
      expect.arrayContaining(["requestId", "ip", "requestTime", "httpMethod", "routeKey", "status", "protocol"]),
    );
    // Only $context variables, and only those that carry no client-supplied header, query string or body.
    expect(format).not.toMatch(/\$(input|request|method|stageVariables)\b/);
    const variables = [...format.matchAll(/\$context\.[\w.]+/g)].map(([v]) => v);
    expect(new Set(variables)).toEqual(
      new Set([
        "$context.requestId",
        "$context.requestTime",
        "$context.identity.sourceIp",
        "$context.httpMethod",
        "$context.path",
        "$context.routeKey",
        "$context.protocol",
        "$context.status",
        "$context.responseLatency",
        "$context.responseLength",
        "$context.integration.status",
        "$context.integration.latency",
        "$context.integrationErrorMessage",
      ]),
    );
    expect(format).not.toMatch(/header|authori[sz]|bearer|userAgent|domainName|domainPrefix|querystring|body/i);
  });
});

const capitalized = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const isSecretsAction = (a: string) => a.toLowerCase().startsWith("secretsmanager:");

type Reader = { handler: string } | { agent: string };
/**
 * Every secret the stack creates, and the functions that may read it (by handler or agent id): one each, but the
 * planner's, which the strategy agent and the API (planning `POST /v1/plans` goals itself) both use.
 */
const SECRET_READERS: Record<string, Reader[]> = {
  "admin-key": [{ handler: "functions/api.handler" }],
  twilio: [{ agent: "comms" }],
  chat: [{ agent: "comms" }],
  lookup: [{ agent: "research" }],
  planner: [{ agent: "strategy" }, { handler: "functions/api.handler" }],
};
const readerFunction = (reader: Reader) =>
  "handler" in reader ? onlyFunction(reader.handler) : agentFunction(reader.agent);
const readersOf = (name: string) => (SECRET_READERS[name] ?? []).map(readerFunction);

describe("admin key secret", () => {
  const secretId = (): string => secretByName("admin-key");

  it("is generated by Secrets Manager (a plain string, no JSON template), named by app and stage, retained", () => {
    const id = secretId();
    const p = props(id);
    expect(p.Name).toBe(`${APP_NAME}/${STAGE}/admin-key`);
    expect(p.GenerateSecretString).toEqual({ PasswordLength: 48, ExcludePunctuation: true, IncludeSpace: false });
    expect(p.SecretString).toBeUndefined();
    expect(String(p.Description)).toMatch(/bootstrap admin/i);
    expect(String(p.Description)).toContain("Authorization: Bearer <value>");
    // The AWS managed key: a customer managed key would need a kms:Decrypt grant the API role does not have.
    expect(p.KmsKeyId).toBeUndefined();
    expect(resources[id]?.DeletionPolicy).toBe("Retain");
    expect(resources[id]?.UpdateReplacePolicy).toBe("Retain");
    expect(ofType("AWS::SecretsManager::RotationSchedule")).toEqual([]);
    expect(ofType("AWS::SecretsManager::ResourcePolicy")).toEqual([]);
  });

  it("is never resolved into the template (no dynamic reference to its value)", () => {
    expect(JSON.stringify(template.toJSON())).not.toMatch(/resolve:secretsmanager/);
  });

  it("is passed to the api function by ARN only; no other function gets it", () => {
    const id = secretId();
    const apiFn = onlyFunction("functions/api.handler");
    // Ref of AWS::SecretsManager::Secret is its full ARN.
    expect(env(apiFn).NEXUS_ADMIN_KEY_SECRET).toEqual({ Ref: id });
    for (const [fn] of nexusFunctions()) {
      if (fn !== apiFn) expect(env(fn).NEXUS_ADMIN_KEY_SECRET, fn).toBeUndefined();
    }
  });

  it("is readable by the api role only: secretsmanager:GetSecretValue on exactly that secret", () => {
    const id = secretId();
    const apiRole = roleOf(onlyFunction("functions/api.handler"));
    // The API's other secrets statement is the planner's (see "provider secrets").
    const apiSecrets = roleStatements(apiRole).filter(
      (s) => s.Action.some(isSecretsAction) && s.Resource.some((r) => refOf(r) === id),
    );
    expect(apiSecrets).toEqual([
      { Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: [{ Ref: id }] },
    ]);
    expect(
      roleStatements(apiRole)
        .flatMap((s) => s.Action)
        .filter((a) => a.startsWith("kms:")),
    ).toEqual([]);
    // No other statement anywhere (resource policies included) names it.
    const naming = allStatements().filter(({ statement }) => statement.Resource.some((r) => refOf(r) === id));
    expect(naming.map(({ roles }) => roles)).toEqual([[apiRole]]);
  });
});

describe("provider secrets", () => {
  it.each([
    ["twilio", "comms", "NEXUS_TWILIO_SECRET"],
    ["chat", "comms", "NEXUS_CHAT_SECRET"],
    ["lookup", "research", "NEXUS_LOOKUP_SECRET"],
    ["planner", "strategy", "NEXUS_PLANNER_SECRET"],
  ] as const)(
    "%s: a '{}' placeholder the operator fills in, retained, passed to %s by ARN as %s",
    (name, agent, variable) => {
      const id = secretByName(name);
      const p = props(id);
      // A constant placeholder: CloudFormation never overwrites what the operator puts, and no credential is in the template.
      expect(p.SecretString).toBe("{}");
      expect(p.GenerateSecretString).toBeUndefined();
      expect(p.KmsKeyId).toBeUndefined();
      expect(String(p.Description).length).toBeGreaterThan(20);
      expect(resources[id]?.DeletionPolicy).toBe("Retain");
      expect(resources[id]?.UpdateReplacePolicy).toBe("Retain");
      for (const fn of readersOf(name)) expect(env(fn)[variable], fn).toEqual({ Ref: id });
      expect(readersOf(name)).toContain(agentFunction(agent));
      expect(outputs[`Agent${capitalized(agent)}${capitalized(name)}SecretArn`]?.Value).toEqual({ Ref: id });
    },
  );

  it("are all the secrets there are: each readable by its own function only (no agent reads another's)", () => {
    const secrets = ofType("AWS::SecretsManager::Secret").map(([id]) => id);
    expect(secrets.sort()).toEqual(Object.keys(SECRET_READERS).map(secretByName).sort());
    expect(ofType("AWS::SecretsManager::RotationSchedule")).toEqual([]);
    expect(ofType("AWS::SecretsManager::ResourcePolicy")).toEqual([]);

    const readable = new Map<string, Set<string>>(); // role → secrets
    for (const name of Object.keys(SECRET_READERS)) {
      for (const fn of readersOf(name)) {
        const role = roleOf(fn);
        readable.set(role, (readable.get(role) ?? new Set()).add(secretByName(name)));
      }
    }
    const roles = ofType("AWS::IAM::Role").map(([roleId]) => roleId);
    for (const role of roles) {
      const statements = roleStatements(role).filter((s) => s.Action.some(isSecretsAction));
      const expected = [...(readable.get(role) ?? [])].sort();
      // GetSecretValue only (no DescribeSecret, no writes), each on a named secret of this role's.
      for (const s of statements) {
        expect(s, role).toMatchObject({ Effect: "Allow", Action: ["secretsmanager:GetSecretValue"] });
        expect(s.Condition, role).toBeUndefined();
      }
      const granted = statements.flatMap((s) => s.Resource.map((r) => refOf(r) ?? JSON.stringify(r))).sort();
      expect(granted, role).toEqual(expected);
    }
    // Nothing else grants secrets access (resource policies included): every such statement is a role's.
    const everywhere = allStatements().filter(({ statement }) => statement.Action.some(isSecretsAction));
    expect(everywhere.length).toBeGreaterThan(0);
    for (const { where, roles } of everywhere) expect(roles.length, where).toBeGreaterThan(0);
  });

  it("reach each function's environment only where it may read them", () => {
    const secrets = new Set(ofType("AWS::SecretsManager::Secret").map(([id]) => id));
    for (const [fn] of nexusFunctions()) {
      const mayRead = Object.keys(SECRET_READERS)
        .filter((name) => readersOf(name).includes(fn))
        .map(secretByName)
        .sort();
      const passed = Object.values(env(fn))
        .map(refOf)
        .filter((ref): ref is string => ref !== undefined && secrets.has(ref))
        .sort();
      expect(passed, fn).toEqual(mayRead);
    }
  });
});

describe("comms agent", () => {
  it("sends email through SES from the configured sender only (SendEmail, no raw email)", () => {
    const fn = agentFunction("comms");
    expect(env(fn).NEXUS_EMAIL_FROM).toBe(AGENT_SETTINGS.NEXUS_EMAIL_FROM);
    expect(env(fn).NEXUS_SES_REGION).toBeUndefined();
    const ses = roleStatements(roleOf(fn)).filter((s) => s.Action.some((a) => a.startsWith("ses:")));
    expect(ses.map((s) => ({ ...s, Resource: s.Resource.map(render) }))).toEqual([
      {
        Effect: "Allow",
        Action: ["ses:SendEmail"],
        Resource: [`arn:\${AWS::Partition}:ses:${REGION}:${ACCOUNT}:identity/*`],
        Condition: { StringEquals: { "ses:FromAddress": SENDER_ADDRESS } },
      },
    ]);
  });

  it("is the only function that may use SES", () => {
    const ses = allStatements().filter(({ statement }) => statement.Action.some((a) => /^ses:/i.test(a)));
    expect(ses.map(({ roles }) => roles)).toEqual([[roleOf(agentFunction("comms"))]]);
  });

  it("takes the sender from the deploying shell, as packages/agents/src/comms/config.ts parses it", () => {
    expect(commsSettingsEnv({})).toEqual({});
    expect(commsSettingsEnv({ NEXUS_EMAIL_FROM: " ", NEXUS_SES_REGION: "" })).toEqual({});
    expect(commsSettingsEnv({ NEXUS_EMAIL_FROM: " a@example.com ", NEXUS_SES_REGION: "eu-west-1" })).toEqual({
      NEXUS_EMAIL_FROM: "a@example.com",
      NEXUS_SES_REGION: "eu-west-1",
    });
    for (const from of ["a@example.com", "Nexus <nexus@example.com>", '"Nexus Alerts" <alerts+ops@mail.example.com>']) {
      const parsed = parseSender(from);
      expect(senderAddress(from), from).toBe(/<([^<>]+)>$/.exec(parsed)?.[1] ?? parsed);
    }
    for (const bad of ["nobody", "Nexus <>", "a@b", "<a@example.com", "a@example.com>", "x <a@example.com> y"]) {
      expect(() => parseSender(bad), bad).toThrow();
      expect(() => commsSettingsEnv({ NEXUS_EMAIL_FROM: bad }), bad).toThrow(/NEXUS_EMAIL_FROM/);
    }
    expect(() => commsSettingsEnv({ NEXUS_SES_REGION: "Ireland" })).toThrow(/NEXUS_SES_REGION/);
  });
});

describe("ops agent", () => {
  it("works in its /tmp workspace and reaches the hosts the deploying shell allows", () => {
    const vars = env(agentFunction("ops"));
    expect(vars.NEXUS_WORKSPACE_DIR).toBe(OPS_WORKSPACE_DIR);
    expect(OPS_WORKSPACE_DIR).toBe(DEFAULT_WORKSPACE_DIR);
    expect(vars.NEXUS_HTTP_ALLOW).toBe(AGENT_SETTINGS.NEXUS_HTTP_ALLOW);
    expect(opsSettingsEnv({})).toEqual({});
    expect(opsSettingsEnv({ NEXUS_HTTP_ALLOW: "  " })).toEqual({});
  });
});

describe("research agent", () => {
  const layerId = (): string => {
    const layers = ofType("AWS::Lambda::LayerVersion");
    expect(layers).toHaveLength(1);
    return (layers[0] as [string, CfnResource])[0];
  };
  const bucketId = (): string => {
    const buckets = ofType("AWS::S3::Bucket");
    expect(buckets).toHaveLength(1);
    return (buckets[0] as [string, CfnResource])[0];
  };

  it("runs x86_64 with room for Chromium: memory, timeout, /tmp, one task per invocation", () => {
    const fn = agentFunction("research");
    const p = props(fn);
    expect(p.Architectures).toEqual(["x86_64"]);
    expect(num(p.MemorySize, "MemorySize")).toBeGreaterThanOrEqual(1600);
    expect(p.Timeout).toBe(120);
    expect(p.EphemeralStorage).toEqual({ Size: 1024 });
    const mapping = ofType("AWS::Lambda::EventSourceMapping").find(
      ([, r]) => refOf(r.Properties?.FunctionName) === fn,
    )?.[1];
    expect(mapping?.Properties?.BatchSize).toBe(1);
  });

  it("gets @sparticuz/chromium's binaries as an x86_64 nodejs24.x layer, on that function only", () => {
    const layer = layerId();
    const p = props(layer);
    expect(p.CompatibleArchitectures).toEqual(["x86_64"]);
    expect(p.CompatibleRuntimes).toEqual(["nodejs24.x"]);
    expect(props(agentFunction("research")).Layers).toEqual([{ Ref: layer }]);
    expect(env(agentFunction("research")).NEXUS_CHROMIUM_BIN_DIR).toBe(CHROMIUM_LAYER_DIR);
    expect(CHROMIUM_LAYER_DIR).toBe("/opt");
    for (const [fn, r] of ofType("AWS::Lambda::Function")) {
      if (fn !== agentFunction("research")) expect(r.Properties?.Layers, fn).toBeUndefined();
    }
    // The staged asset is the package's bin/ directory, file for file: its files land in /opt.
    const key = String(obj(p.Content, "Content").S3Key);
    const staged = path.join(tmp, "cdk.out", `asset.${key.replace(/\.zip$/, "")}`);
    const files = (dir: string) =>
      readdirSync(dir)
        .sort()
        .map((f) => [f, statSync(path.join(dir, f)).size]);
    expect(existsSync(staged), staged).toBe(true);
    expect(files(staged)).toEqual(files(chromiumBinDir()));
    expect(files(staged).map(([f]) => f)).toEqual(
      expect.arrayContaining(["chromium.br", "al2023.tar.br", "fonts.tar.br"]),
    );
  });

  it("stores screenshots in a private, TLS-only, encrypted bucket that expires them, retained outside ephemeral stages", () => {
    const bucket = bucketId();
    const p = props(bucket);
    expect(p.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(p.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }],
    });
    const rules = asArray(obj(p.LifecycleConfiguration, "LifecycleConfiguration").Rules).map((r) => obj(r, "Rule"));
    expect(rules).toEqual([expect.objectContaining({ Status: "Enabled", ExpirationInDays: ARTIFACT_RETENTION_DAYS })]);
    expect(rules[0]?.Prefix).toBeUndefined();
    expect(ARTIFACT_RETENTION_DAYS).toBe(7);
    expect(resources[bucket]?.DeletionPolicy).toBe("Retain");
    // Not in a durable stage: auto-deletion is for ephemeral stages.
    expect(ofType("Custom::S3AutoDeleteObjects")).toEqual([]);

    const policies = ofType("AWS::S3::BucketPolicy").filter(([, r]) => refOf(r.Properties?.Bucket) === bucket);
    expect(policies).toHaveLength(1);
    const statements = statementsOf((policies[0] as [string, CfnResource])[1].Properties?.PolicyDocument);
    expect(statements.filter((s) => s.Effect === "Allow")).toEqual([]);
    expect(
      statements.filter(
        (s) => s.Effect === "Deny" && JSON.stringify(s.Condition).includes('"aws:SecureTransport":"false"'),
      ),
    ).toHaveLength(1);
  });

  it("passes the bucket by name, no key prefix (render_page's keys carry it) and no SSRF exceptions", () => {
    const vars = env(agentFunction("research"));
    expect(vars.NEXUS_ARTIFACTS_BUCKET).toEqual({ Ref: bucketId() });
    expect(vars.NEXUS_ARTIFACTS_PREFIX).toBeUndefined();
    for (const [fn] of nexusFunctions()) expect(env(fn)[SSRF_ALLOW], fn).toBeUndefined();
  });

  it("lets only the research role put and get objects, under the screenshots prefix only", () => {
    const bucket = bucketId();
    const role = roleOf(agentFunction("research"));
    const s3 = allStatements().filter(
      ({ statement }) => statement.Effect === "Allow" && statement.Action.some((a) => /^s3:/i.test(a)),
    );
    expect(s3.map(({ roles }) => roles)).toEqual([[role]]);
    const statement = s3[0]?.statement as Statement;
    expect(new Set(statement.Action)).toEqual(new Set(["s3:PutObject", "s3:GetObject"]));
    expect(statement.Resource.map(render)).toEqual([`\${${bucket}.Arn}/${SCREENSHOTS_PREFIX}*`]);
  });
});

describe("strategy agent (the planner)", () => {
  const apiFn = () => onlyFunction("functions/api.handler");
  const plannerFunctions = () => [agentFunction("strategy"), apiFn()];
  /** A planner configured on a bare stack (same region and account), its statements and suppressions resolved. */
  const plannerOn = (shell: NodeJS.ProcessEnv) => {
    const stack = new CdkStack(new CdkApp(), "Planner", { env: { region: REGION, account: ACCOUNT } });
    const secret = new secretsmanager.Secret(stack, "Planner");
    const access = plannerAccess(stack, shell, secret);
    return {
      environment: stack.resolve(access.environment) as JsonObject,
      statements: (access.statements ?? []).map((s) => normalize(stack.resolve(s.toStatementJson()) as JsonObject)),
      suppressions: access.roleSuppressions ?? [],
    };
  };
  const bedrockOf = (statements: Statement[]) =>
    statements.filter((s) => s.Action.some((a) => a.toLowerCase().startsWith("bedrock:")));

  it("gets the planner settings of the deploying shell, in the strategy function and the API alike", () => {
    for (const fn of plannerFunctions()) {
      const vars = env(fn);
      expect(vars.NEXUS_PLANNER_PROVIDER, fn).toBe("bedrock");
      expect(vars.NEXUS_PLANNER_MODEL, fn).toBe(PLANNER_MODEL);
      expect(vars.NEXUS_PLANNER_URL, fn).toBeUndefined();
      expect(vars.NEXUS_PLANNER_SECRET, fn).toEqual({ Ref: secretByName("planner") });
    }
    for (const [fn] of nexusFunctions()) {
      if (plannerFunctions().includes(fn)) continue;
      for (const name of ["NEXUS_PLANNER_PROVIDER", "NEXUS_PLANNER_MODEL", "NEXUS_PLANNER_SECRET"]) {
        expect(env(fn)[name], `${fn} ${name}`).toBeUndefined();
      }
    }
  });

  it("may invoke the configured Bedrock model only: bedrock:InvokeModel on its ARN, for strategy and the API", () => {
    const bedrock = allStatements().filter(({ statement }) =>
      statement.Action.some((a) => a.toLowerCase().startsWith("bedrock:")),
    );
    expect(bedrock.map(({ roles }) => roles).sort()).toEqual(
      plannerFunctions()
        .map((fn) => [roleOf(fn)])
        .sort(),
    );
    for (const { where, statement } of bedrock) {
      expect({ ...statement, Resource: statement.Resource.map(render) }, where).toEqual({
        Effect: "Allow",
        Action: ["bedrock:InvokeModel"],
        Resource: [`arn:\${AWS::Partition}:bedrock:${REGION}::foundation-model/${PLANNER_MODEL}`],
      });
    }
  });

  it("gets no Bedrock permission without an LLM or with an OpenAI-compatible one; always the secret", () => {
    for (const shell of [
      {},
      { NEXUS_PLANNER_PROVIDER: "openai" },
      {
        NEXUS_PLANNER_PROVIDER: "openai",
        NEXUS_PLANNER_MODEL: "gpt-4o-mini",
        NEXUS_PLANNER_URL: "https://llm.example.com/v1",
      },
    ]) {
      const planner = plannerOn(shell);
      expect(bedrockOf(planner.statements), JSON.stringify(shell)).toEqual([]);
      expect(planner.statements.map((s) => s.Action)).toEqual([["secretsmanager:GetSecretValue"]]);
      expect(planner.suppressions).toEqual([]);
      expect(Object.keys(planner.environment).sort()).toEqual([...Object.keys(shell), "NEXUS_PLANNER_SECRET"].sort());
    }
  });

  it("through a cross-Region inference profile: the profile, and its model in any region only through it", () => {
    const profile = `us.${PLANNER_MODEL}`;
    const planner = plannerOn({ NEXUS_PLANNER_PROVIDER: "bedrock", NEXUS_PLANNER_MODEL: profile });
    const profileArn = `arn:\${AWS::Partition}:bedrock:${REGION}:${ACCOUNT}:inference-profile/${profile}`;
    expect(bedrockOf(planner.statements).map((s) => ({ ...s, Resource: s.Resource.map(render) }))).toEqual([
      { Effect: "Allow", Action: ["bedrock:InvokeModel"], Resource: [profileArn] },
      {
        Effect: "Allow",
        Action: ["bedrock:InvokeModel"],
        Resource: [`arn:\${AWS::Partition}:bedrock:*::foundation-model/${PLANNER_MODEL}`],
        Condition: { StringEquals: { "bedrock:InferenceProfileArn": expect.anything() } },
      },
    ]);
    const condition = obj(bedrockOf(planner.statements)[1]?.Condition, "Condition");
    expect(render(obj(condition.StringEquals, "StringEquals")["bedrock:InferenceProfileArn"])).toBe(profileArn);
    // The region wildcard is the one IAM5 finding, suppressed for that model's ARN alone.
    expect(planner.suppressions).toHaveLength(1);
    const [suppression] = planner.suppressions;
    expect(suppression?.id).toBe("AwsSolutions-IAM5");
    const [applies] = (suppression?.appliesTo ?? []) as Array<{ regex: string }>;
    const regex = new RegExp(String(applies?.regex).replace(/^\/|\/$/g, ""));
    expect(regex.test(`Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/${PLANNER_MODEL}`)).toBe(true);
    expect(regex.test("Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/*")).toBe(false);
  });

  it("takes its settings from the deploying shell, and fails the synth when they are wrong", () => {
    // The names packages/agents/src/strategy/providers.ts reads.
    expect(
      Object.keys(
        plannerSettingsEnv({
          NEXUS_PLANNER_PROVIDER: "openai",
          NEXUS_PLANNER_MODEL: "gpt-4o-mini",
          NEXUS_PLANNER_URL: "https://llm.example.com/v1",
        }),
      ).sort(),
    ).toEqual([PLANNER_CONFIG.model, PLANNER_CONFIG.provider, PLANNER_CONFIG.url].sort());
    expect(Object.keys(plannerOn({}).environment)).toEqual([PLANNER_CONFIG.secret]);
    expect(plannerSettingsEnv({})).toEqual({});
    expect(plannerSettingsEnv({ NEXUS_PLANNER_PROVIDER: " ", NEXUS_PLANNER_MODEL: "" })).toEqual({});
    expect(
      plannerSettingsEnv({ NEXUS_PLANNER_PROVIDER: "bedrock", NEXUS_PLANNER_MODEL: ` ${PLANNER_MODEL} ` }),
    ).toEqual({ NEXUS_PLANNER_PROVIDER: "bedrock", NEXUS_PLANNER_MODEL: PLANNER_MODEL });
    expect(() => plannerSettingsEnv({ NEXUS_PLANNER_PROVIDER: "anthropic" })).toThrow(/NEXUS_PLANNER_PROVIDER/);
    // Bedrock without a model: nothing to grant.
    expect(() => plannerSettingsEnv({ NEXUS_PLANNER_PROVIDER: "bedrock" })).toThrow(/NEXUS_PLANNER_MODEL/);
    expect(() => plannerSettingsEnv({ NEXUS_PLANNER_MODEL: PLANNER_MODEL })).toThrow(/NEXUS_PLANNER_PROVIDER/);
    for (const model of [`arn:aws:bedrock:${REGION}::foundation-model/${PLANNER_MODEL}`, "a model", "*"]) {
      expect(
        () => plannerSettingsEnv({ NEXUS_PLANNER_PROVIDER: "bedrock", NEXUS_PLANNER_MODEL: model }),
        model,
      ).toThrow(/NEXUS_PLANNER_MODEL/);
    }
    for (const url of ["llm.example.com", "ftp://llm.example.com", "http://llm.example.com/v1"]) {
      expect(() => plannerSettingsEnv({ NEXUS_PLANNER_PROVIDER: "openai", NEXUS_PLANNER_URL: url }), url).toThrow(
        /NEXUS_PLANNER_URL/,
      );
    }
  });
});

describe("optional api settings from the deploying shell", () => {
  it("are absent from the api function when unset", () => {
    const vars = env(onlyFunction("functions/api.handler"));
    for (const name of SETTINGS_ENV) expect(vars[name], name).toBeUndefined();
    expect(apiSettingsEnv({})).toEqual({});
    expect(apiSettingsEnv({ NEXUS_RATE_LIMIT_PER_MINUTE: "", NEXUS_DAILY_CAPS: " " })).toEqual({});
  });

  it("are passed through when set, in a form the api parses (packages/core/src/context.ts)", () => {
    const settings = apiSettingsEnv({
      NEXUS_RATE_LIMIT_PER_MINUTE: "120",
      NEXUS_DAILY_CAPS: '{ "comms.send_sms": 10, "research.search": 500 }',
    });
    expect(settings).toEqual({
      NEXUS_RATE_LIMIT_PER_MINUTE: "120",
      NEXUS_DAILY_CAPS: '{"comms.send_sms":10,"research.search":500}',
    });
    const ctx = contextFromEnv({ NEXUS_TABLE: "t", NEXUS_QUEUE_PREFIX: PREFIX, ...settings });
    expect(ctx.settings.rateLimitPerMinute).toBe(120);
    expect(ctx.settings.dailyCaps).toEqual({ ...DEFAULT_DAILY_CAPS, "comms.send_sms": 10, "research.search": 500 });
  });

  it("fail the synth when malformed", () => {
    for (const bad of ["0", "-5", "1.5", "ten", "1e3"]) {
      expect(() => apiSettingsEnv({ NEXUS_RATE_LIMIT_PER_MINUTE: bad }), bad).toThrow(/NEXUS_RATE_LIMIT_PER_MINUTE/);
    }
    for (const bad of ["{", "[]", "5", "null", '{"a.b":-1}', '{"a.b":1.5}', '{"a.b":"3"}']) {
      expect(() => apiSettingsEnv({ NEXUS_DAILY_CAPS: bad }), bad).toThrow(/NEXUS_DAILY_CAPS/);
    }
  });
});

describe("iam", () => {
  it("allows no '*' or 'service:*' action anywhere", () => {
    const wildcard = allStatements().filter(
      ({ statement }) =>
        statement.Effect === "Allow" && statement.Action.some((a) => a === "*" || /^[\w-]+:\*$/.test(a)),
    );
    expect(wildcard).toEqual([]);
  });

  it("allows Resource '*' only for X-Ray, and for the state machine's log delivery (the reasons of the IAM5 suppressions)", () => {
    const star = allStatements().filter(
      ({ statement }) =>
        statement.Effect === "Allow" &&
        statement.Resource.includes("*") &&
        !statement.Action.every((a) => a.startsWith("xray:")),
    );
    // CDK gives a state machine that logs to CloudWatch Logs these actions of log delivery (the service sets up the
    // delivery to the log group on the role's behalf); none of them supports resource-level permissions. They are
    // the only non-X-Ray actions on "*", and only the plan state machine's role has them.
    const logDelivery = new Set([
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]);
    expect(star.map(({ roles }) => roles)).toEqual([[stateMachineRole()]]);
    expect(star.map(({ statement }) => ({ ...statement, Action: new Set(statement.Action) }))).toEqual([
      { Effect: "Allow", Action: logDelivery, Resource: ["*"] },
    ]);
  });

  it("gives each function's role only the services it uses", () => {
    const base = ["logs", "xray", "dynamodb", "sqs"];
    // Every agent reports plan steps' outcomes (states), as the sweeper does for tasks whose worker vanished; the planner reads its secret and, configured with Bedrock
    // as it is here, invokes the model, in the strategy agent and the API alike.
    const extra: Record<string, string[]> = {
      comms: ["secretsmanager", "ses"],
      research: ["secretsmanager", "s3"],
      strategy: ["secretsmanager", "bedrock"],
    };
    for (const [fn] of nexusFunctions()) {
      const agentId = env(fn).NEXUS_AGENT_ID;
      const handler = props(fn).Handler;
      const expected =
        handler === "functions/api.handler"
          ? [...base, "secretsmanager", "lambda", "states", "bedrock", "scheduler", "iam"]
          : handler === "functions/sweeper.handler"
            ? [...base, "states", "lambda"]
            : handler === "functions/plans.handler" || handler === "functions/schedule.handler"
              ? [...base, "states"]
              : typeof agentId === "string"
                ? [...base, "states", ...(extra[agentId] ?? [])]
                : base;
      const services = new Set(
        roleStatements(roleOf(fn))
          .filter((s) => s.Effect === "Allow")
          .flatMap((s) => s.Action.map((a) => a.split(":")[0])),
      );
      expect([...services].sort(), fn).toEqual([...expected].sort());
    }
  });

  it("attaches no managed policy to the Nexus function roles", () => {
    for (const [fn] of nexusFunctions()) expect(props(roleOf(fn)).ManagedPolicyArns, fn).toBeUndefined();
  });

  it.each(BUILTIN_AGENTS.map((a) => [a.id] as const))("%s: the agent role touches its own queue and DLQ only", (id) => {
    const queue = queueByName(`${PREFIX}${id}`);
    const dlq = queueByName(`${PREFIX}${id}-dlq`);
    const fn = ofType("AWS::Lambda::Function").find(([fnId]) => env(fnId).NEXUS_AGENT_ID === id)?.[0];
    if (!fn) throw new Error(`no consumer for ${id}`);
    const sqs = roleStatements(roleOf(fn)).filter((s) => s.Action.some((a) => a.startsWith("sqs:")));
    expect(sqs.length).toBeGreaterThan(0);
    for (const s of sqs) {
      expect(s.Effect).toBe("Allow");
      for (const resource of s.Resource) expect([`${queue}.Arn`, `${dlq}.Arn`]).toContain(refOf(resource));
    }
    const on = (resource: string) =>
      new Set(sqs.filter((s) => s.Resource.some((r) => refOf(r) === resource)).flatMap((s) => s.Action));
    expect(on(`${queue}.Arn`)).toEqual(
      new Set([
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:SendMessage",
      ]),
    );
    // its health action counts its DLQ's messages
    expect(on(`${dlq}.Arn`)).toEqual(new Set(["sqs:SendMessage", "sqs:GetQueueAttributes"]));
  });

  it("gives each function item reads/writes and queries on the table and its indexes only", () => {
    const [[tableId]] = ofType("AWS::DynamoDB::Table") as [[string, CfnResource]];
    const expected = [`\${${tableId}.Arn}`, ...GSIS.map((g) => `\${${tableId}.Arn}/index/${g}`)].sort();
    const items = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"];
    // Batches where the code batches (packages/core/src/tasks.ts, plans/store.ts): the API writes a submitted task
    // with its audit record and a new plan with its steps (BatchWriteItem), and reads a plan's tasks (BatchGetItem);
    // the plan runner reads the tasks whose results a step's params refer to (BatchGetItem). No scan; only the API
    // deletes (a deleted custom agent's record and name guard).
    const batches: Record<string, string[]> = {
      "functions/api.handler": ["dynamodb:BatchWriteItem", "dynamodb:BatchGetItem", "dynamodb:DeleteItem"],
      "functions/plans.handler": ["dynamodb:BatchGetItem"],
      // A plan run writes its plan and steps.
      "functions/schedule.handler": ["dynamodb:BatchWriteItem"],
    };
    for (const [fn] of nexusFunctions()) {
      const dynamo = roleStatements(roleOf(fn)).filter((s) => s.Action.some((a) => a.startsWith("dynamodb:")));
      expect(dynamo, fn).toHaveLength(1);
      const [statement] = dynamo as [Statement];
      expect(statement.Resource.map(render).sort(), fn).toEqual(expected);
      expect(new Set(statement.Action), fn).toEqual(new Set([...items, ...(batches[String(props(fn).Handler)] ?? [])]));
    }
  });

  it("lets the api create and use custom agent queues under the prefix, but not reconfigure built-in ones", () => {
    const statements = roleStatements(roleOf(onlyFunction("functions/api.handler")));
    const pattern = `arn:\${AWS::Partition}:sqs:${REGION}:${ACCOUNT}:${PREFIX}*`;
    const custom = statements.filter((s) => s.Resource.some((r) => render(r) === pattern));
    // one statement to create and use custom queues, one to delete them (with a deleted agent), one for remote
    // workers' claims (receive, and delete what was claimed)
    const deletes = custom.filter((s) => s.Action.includes("sqs:DeleteQueue"));
    expect(deletes).toHaveLength(1);
    expect((deletes[0] as Statement).Action).toEqual(["sqs:DeleteQueue"]);
    custom.splice(custom.indexOf(deletes[0] as Statement), 1);
    const claims = custom.filter((s) => s.Action.includes("sqs:ReceiveMessage"));
    expect(claims).toHaveLength(1);
    expect(new Set((claims[0] as Statement).Action)).toEqual(new Set(["sqs:ReceiveMessage", "sqs:DeleteMessage"]));
    custom.splice(custom.indexOf(claims[0] as Statement), 1);
    expect(custom).toHaveLength(1);
    expect((custom[0] as Statement).Effect).toBe("Allow");
    expect(new Set((custom[0] as Statement).Action)).toEqual(
      new Set([
        "sqs:CreateQueue",
        "sqs:GetQueueUrl",
        "sqs:GetQueueAttributes",
        "sqs:SetQueueAttributes",
        "sqs:TagQueue",
        "sqs:SendMessage",
      ]),
    );
    const builtinQueues = BUILTIN_AGENTS.map((a) => `${queueByName(`${PREFIX}${a.id}`)}.Arn`);
    const builtinSend = statements.filter(
      (s) => s.Effect === "Allow" && s.Action.includes("sqs:SendMessage") && s.Resource.some((r) => refOf(r)),
    );
    expect(builtinSend.flatMap((s) => s.Resource.map(refOf)).sort()).toEqual([...builtinQueues].sort());
    const deny = statements.filter((s) => s.Effect === "Deny");
    expect(deny.flatMap((s) => s.Action)).toEqual(
      expect.arrayContaining([
        "sqs:CreateQueue",
        "sqs:SetQueueAttributes",
        "sqs:TagQueue",
        "sqs:DeleteQueue",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
      ]),
    );
  });

  it("lets the failures ingester read and delete messages of the agents' DLQs only", () => {
    const fn = onlyFunction("functions/failures.handler");
    const sqsStatements = roleStatements(roleOf(fn)).filter((s) => s.Action.some((a) => a.startsWith("sqs:")));
    expect(sqsStatements).toHaveLength(1);
    const [statement] = sqsStatements as [Statement];
    expect(new Set(statement.Action)).toEqual(new Set(["sqs:ReceiveMessage", "sqs:DeleteMessage"]));
    const builtinDlqs = BUILTIN_AGENTS.map((a) => `${queueByName(`${PREFIX}${a.id}-dlq`)}.Arn`);
    expect(statement.Resource.flatMap((r) => (refOf(r) ? [refOf(r)] : [])).sort()).toEqual([...builtinDlqs].sort());
    expect(statement.Resource.map(render)).toContain(`arn:\${AWS::Partition}:sqs:${REGION}:${ACCOUNT}:${PREFIX}*-dlq`);
    expectScheduled(fn, "rate(5 minutes)");
  });

  it("lets the api switch exactly the built-in agents' event source mappings on and off", () => {
    const fn = onlyFunction("functions/api.handler");
    const statements = roleStatements(roleOf(fn)).filter((s) => s.Action.some((a) => a.startsWith("lambda:")));
    expect(statements).toHaveLength(1);
    expect((statements[0] as Statement).Action).toEqual(["lambda:UpdateEventSourceMapping"]);
    const mappings = ofType("AWS::Lambda::EventSourceMapping").map(([id]) => id);
    expect(mappings).toHaveLength(BUILTIN_AGENTS.length);
    expect(JSON.stringify((statements[0] as Statement).Resource)).toSatisfy((text: string) =>
      mappings.every((id) => text.includes(id)),
    );
    const consumers = JSON.stringify(env(fn).NEXUS_BUILTIN_CONSUMERS);
    for (const id of mappings) expect(consumers).toContain(id);
    for (const { id } of BUILTIN_AGENTS) expect(consumers).toMatch(new RegExp(`\\W${id}\\W`));
  });

  it("lets the sweeper send to built-in and custom agent queues, and read their and their DLQs' depths, only", () => {
    const statements = roleStatements(roleOf(onlyFunction("functions/sweeper.handler")));
    const sqs = statements.filter((s) => s.Action.some((a) => a.startsWith("sqs:")));
    expect(new Set(sqs.flatMap((s) => s.Action))).toEqual(new Set(["sqs:SendMessage", "sqs:GetQueueAttributes"]));
    const custom = `arn:\${AWS::Partition}:sqs:${REGION}:${ACCOUNT}:${PREFIX}*`;
    const queues = BUILTIN_AGENTS.map((a) => `\${${queueByName(`${PREFIX}${a.id}`)}.Arn}`);
    const dlqs = BUILTIN_AGENTS.map((a) => `\${${queueByName(`${PREFIX}${a.id}-dlq`)}.Arn}`);
    const on = (action: string) =>
      sqs
        .filter((s) => s.Action.includes(action))
        .flatMap((s) => s.Resource.map(render))
        .sort();
    expect(on("sqs:SendMessage")).toEqual([...queues, custom].sort());
    expect(on("sqs:GetQueueAttributes")).toEqual([...queues, ...dlqs, custom].sort());
  });
});

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

  it("let exactly the agents, the plan runner and the API send task results (the sweeper failures); heartbeats only agents and the API (remote workers)", () => {
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
    expect(heartbeat.roles).toEqual([...agentRoles(), apiRole()].sort());
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

  it("raise an alarm (no action yet) when a run fails: ExecutionsFailed, Sum >= 1 over 5 minutes", () => {
    const alarms = ofType("AWS::CloudWatch::Alarm");
    expect(alarms).toHaveLength(1);
    const p = (alarms[0] as [string, CfnResource])[1].Properties ?? {};
    expect(p).toMatchObject({
      Namespace: "AWS/States",
      MetricName: "ExecutionsFailed",
      Statistic: "Sum",
      Period: 300,
      Threshold: 1,
      EvaluationPeriods: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      TreatMissingData: "notBreaching",
    });
    expect(p.Dimensions).toEqual([{ Name: "StateMachineArn", Value: { Ref: stateMachineId() } }]);
    expect(p.AlarmActions).toBeUndefined();
  });
});

describe("cdk-nag", () => {
  it("runs the AwsSolutions pack on the app", () => {
    expect(Aspects.of(app).all.some((aspect) => aspect instanceof AwsSolutionsChecks)).toBe(true);
  });

  it("reports no unsuppressed AwsSolutions errors", () => {
    const errors = messages
      .filter((m) => m.level === "error")
      .map((m) => `${m.id}: ${String(m.entry.data)}`)
      .filter((m) => m.includes("AwsSolutions-"));
    expect(errors).toEqual([]);
  });

  it("reports no synthesis errors at all", () => {
    expect(messages.filter((m) => m.level === "error").map((m) => `${m.id}: ${String(m.entry.data)}`)).toEqual([]);
  });

  it("suppresses only reviewed rules, each with a reason", () => {
    // A new suppression must be reviewed: add its rule here only with a specific reason in the stack.
    const reviewed = new Set([
      "AwsSolutions-IAM4",
      "AwsSolutions-IAM5",
      "AwsSolutions-APIG4",
      "AwsSolutions-SMG4",
      "AwsSolutions-S1",
      "AwsSolutions-SQS3",
    ]);
    const suppressions = Object.values(resources).flatMap((r) =>
      asArray(obj(r.Metadata?.cdk_nag ?? { rules_to_suppress: [] }, "cdk_nag").rules_to_suppress).map((s) =>
        obj(s, "suppression"),
      ),
    );
    expect(suppressions.length).toBeGreaterThan(0);
    for (const s of suppressions) {
      expect(reviewed, String(s.id)).toContain(s.id);
      expect(String(s.reason).length, String(s.id)).toBeGreaterThanOrEqual(40);
      // IAM findings are suppressed for the named policies or resources only, never wholesale.
      if (String(s.id).startsWith("AwsSolutions-IAM"))
        expect(asArray(s.applies_to).length, String(s.id)).toBeGreaterThan(0);
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

// ── Schedules ────────────────────────────────────────────────────────────────────────────────────────
const SCHEDULE_GROUP = scheduleGroupName(APP_NAME, STAGE);
/** A rendered ARN as it is in the commercial partition. */
const inAws = (arn: string) => arn.replace(/^arn:\$\{AWS::Partition\}:/, "arn:aws:");
/** The role EventBridge Scheduler assumes (the only one scheduler.amazonaws.com may assume). */
function schedulerRoleId(): string {
  const ids = ofType("AWS::IAM::Role")
    .filter(([, r]) => JSON.stringify(r.Properties?.AssumeRolePolicyDocument).includes('"scheduler.amazonaws.com"'))
    .map(([id]) => id);
  expect(ids, "roles EventBridge Scheduler assumes").toHaveLength(1);
  return ids[0] as string;
}

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
