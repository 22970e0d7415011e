/**
 * Synthesizes the real app (sst.config.ts → stacks/Nexus.ts) in-process, offline, and checks the template.
 *
 * SST's `finish()` bundles every function handler with esbuild (as `sst deploy` does) and SST writes build
 * output under `<root>/.sst`; both are redirected to a temp dir here. `initProject` still creates an empty
 * `<root>/.sst/` and briefly writes `<root>/.sst.config.<timestamp>.mjs` while loading the config.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Aspects } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import type { SynthesisMessage } from "aws-cdk-lib/cx-api";
import { AwsSolutionsChecks } from "cdk-nag";
import { App, getStack } from "sst/constructs";
import { initProject, setProject, useProject } from "sst/project.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contextFromEnv } from "../packages/core/src/context.js";
import { DEFAULT_DAILY_CAPS } from "../packages/core/src/limits.js";
import { GSIS, gsiKeys, TABLE_KEYS } from "../packages/core/src/storage/table.js";
import config from "../sst.config.js";
import {
  ACCESS_LOG_FORMAT,
  apiSettingsEnv,
  BUILTIN_AGENTS,
  isEphemeralStage,
  Nexus,
  queuePrefix,
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
const SYNTH_TIMEOUT_MS = 120_000;
/** Optional API settings the stack reads from the deploying shell; unset while synthesizing here. */
const SETTINGS_ENV = ["NEXUS_RATE_LIMIT_PER_MINUTE", "NEXUS_DAILY_CAPS"] as const;

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
const onlyFunction = (handler: string): string => {
  const ids = functionByHandler(handler);
  expect(ids, `functions with handler ${handler}`).toHaveLength(1);
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
/** Every policy document in the template: identity policies and resource policies. */
const allStatements = (): Array<{ where: string; statement: Statement }> =>
  Object.entries(resources).flatMap(([id, r]) => {
    const p = r.Properties ?? {};
    const documents: Json[] = [
      ...(p.PolicyDocument === undefined ? [] : [p.PolicyDocument]),
      ...asArray(p.Policies).map((policy) => obj(policy, "Policy").PolicyDocument ?? null),
      ...(p.AssumeRolePolicyDocument === undefined ? [] : [p.AssumeRolePolicyDocument]),
    ].filter((d) => d !== null);
    return documents.flatMap((d) => statementsOf(d).map((statement) => ({ where: `${id} (${r.Type})`, statement })));
  });

beforeAll(async () => {
  process.env.NODE_ENV = "test"; // otherwise App.finish() waits for AWS (bootstrap lookups)
  // SST resolves handler paths against the cwd, and esbuild captures the cwd when it is first imported.
  if (process.cwd() !== ROOT) throw new Error(`run vitest from the repository root (${ROOT}), not ${process.cwd()}`);
  tmp = mkdtempSync(path.join(tmpdir(), "nexus-stacks-"));
  const savedSettings = SETTINGS_ENV.map((name) => [name, process.env[name]] as const);

  // Also loads .env, .env.local, .env.<stage>, .env.<stage>.local into process.env (overriding it), as `sst deploy` does.
  await initProject({ root: ROOT, stage: STAGE });
  for (const name of SETTINGS_ENV) delete process.env[name];
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
    for (const [name, value] of savedSettings) if (value !== undefined) process.env[name] = value;
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
    expect(lambdas.length).toBeGreaterThanOrEqual(2 + BUILTIN_AGENTS.length);
    for (const [id, r] of lambdas) expect(r.Properties?.Runtime, id).toBe("nodejs24.x");
  });

  it("are the api, the sweeper and one consumer per built-in agent", () => {
    expect(functionByHandler("functions/api.handler")).toHaveLength(1);
    expect(functionByHandler("functions/sweeper.handler")).toHaveLength(1);
    expect(functionByHandler("functions/agent.handler")).toHaveLength(BUILTIN_AGENTS.length);
    expect(nexusFunctions()).toHaveLength(2 + BUILTIN_AGENTS.length);
  });

  it("are arm64, actively traced, log JSON to their own log group with a retention", () => {
    for (const [id, r] of nexusFunctions()) {
      const p = r.Properties ?? {};
      expect(p.Architectures, id).toEqual(["arm64"]);
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
      expect(mapping.BatchSize).toBe(10);
      expect(mapping.MaximumBatchingWindowInSeconds).toBe(1);

      const fn = refOf(mapping.FunctionName);
      if (!fn) throw new Error("event source mapping has no function");
      expect(props(fn).Handler).toBe("functions/agent.handler");
      expect(env(fn).NEXUS_AGENT_ID).toBe(id);
      expect(props(fn).MemorySize).toBe(agent.memorySize);
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
    const rules = ofType("AWS::Events::Rule").filter(([, r]) =>
      asArray(r.Properties?.Targets).some((t) => refOf(obj(t, "Target").Arn) === `${sweeper}.Arn`),
    );
    expect(rules).toHaveLength(1);
    const [ruleId, rule] = rules[0] as [string, CfnResource];
    expect(rule.Properties?.ScheduleExpression).toBe("rate(5 minutes)");
    expect(rule.Properties?.State).toBe("ENABLED");
    template.hasResourceProperties("AWS::Lambda::Permission", {
      Action: "lambda:InvokeFunction",
      Principal: "events.amazonaws.com",
      FunctionName: { "Fn::GetAtt": [sweeper, "Arn"] },
      SourceArn: { "Fn::GetAtt": [ruleId, "Arn"] },
    });
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

describe("admin key secret", () => {
  const secretId = (): string => {
    const secrets = ofType("AWS::SecretsManager::Secret");
    expect(secrets).toHaveLength(1);
    return (secrets[0] as [string, CfnResource])[0];
  };

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
    const isSecretsAction = (a: string) => a.toLowerCase().startsWith("secretsmanager:");
    const apiRole = roleOf(onlyFunction("functions/api.handler"));
    const apiSecrets = roleStatements(apiRole).filter((s) => s.Action.some(isSecretsAction));
    expect(apiSecrets).toEqual([
      { Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: [{ Ref: id }] },
    ]);
    expect(
      roleStatements(apiRole)
        .flatMap((s) => s.Action)
        .filter((a) => a.startsWith("kms:")),
    ).toEqual([]);

    const roles = ofType("AWS::IAM::Role").map(([roleId]) => roleId);
    expect(roles).toContain(apiRole);
    for (const role of roles.filter((r) => r !== apiRole)) {
      const actions = roleStatements(role).flatMap((s) => s.Action);
      expect(actions.filter(isSecretsAction), role).toEqual([]);
    }
    // Nor any other policy document in the template (resource policies included).
    const everywhere = allStatements().filter(({ statement }) => statement.Action.some(isSecretsAction));
    expect(everywhere.map(({ statement }) => statement)).toEqual(apiSecrets);
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

  it("allows Resource '*' only for X-Ray (the reason of the IAM5 suppression on function roles)", () => {
    const star = allStatements().filter(
      ({ statement }) =>
        statement.Effect === "Allow" &&
        statement.Resource.includes("*") &&
        !statement.Action.every((a) => a.startsWith("xray:")),
    );
    expect(star).toEqual([]);
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
    expect(on(`${dlq}.Arn`)).toEqual(new Set(["sqs:SendMessage"]));
  });

  it("gives each function item reads/writes and queries on the table and its indexes only", () => {
    const [[tableId]] = ofType("AWS::DynamoDB::Table") as [[string, CfnResource]];
    const expected = [`\${${tableId}.Arn}`, ...GSIS.map((g) => `\${${tableId}.Arn}/index/${g}`)].sort();
    for (const [fn] of nexusFunctions()) {
      const dynamo = roleStatements(roleOf(fn)).filter((s) => s.Action.some((a) => a.startsWith("dynamodb:")));
      expect(dynamo, fn).toHaveLength(1);
      const [statement] = dynamo as [Statement];
      expect(statement.Resource.map(render).sort(), fn).toEqual(expected);
      expect(new Set(statement.Action), fn).toEqual(
        new Set(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"]),
      );
    }
  });

  it("lets the api create and use custom agent queues under the prefix, but not reconfigure built-in ones", () => {
    const statements = roleStatements(roleOf(onlyFunction("functions/api.handler")));
    const pattern = `arn:\${AWS::Partition}:sqs:${REGION}:${ACCOUNT}:${PREFIX}*`;
    const custom = statements.filter((s) => s.Resource.some((r) => render(r) === pattern));
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
      expect.arrayContaining(["sqs:CreateQueue", "sqs:SetQueueAttributes", "sqs:TagQueue"]),
    );
  });

  it("lets the sweeper send to built-in and custom agent queues only", () => {
    const statements = roleStatements(roleOf(onlyFunction("functions/sweeper.handler")));
    const sqs = statements.filter((s) => s.Action.some((a) => a.startsWith("sqs:")));
    expect(new Set(sqs.flatMap((s) => s.Action))).toEqual(new Set(["sqs:SendMessage"]));
    const expected = [
      ...BUILTIN_AGENTS.map((a) => `\${${queueByName(`${PREFIX}${a.id}`)}.Arn}`),
      `arn:\${AWS::Partition}:sqs:${REGION}:${ACCOUNT}:${PREFIX}*`,
    ].sort();
    expect(sqs.flatMap((s) => s.Resource.map(render)).sort()).toEqual(expected);
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
    const reviewed = new Set(["AwsSolutions-IAM4", "AwsSolutions-IAM5", "AwsSolutions-APIG4", "AwsSolutions-SMG4"]);
    const suppressions = Object.values(resources).flatMap((r) =>
      asArray(obj(r.Metadata?.cdk_nag ?? { rules_to_suppress: [] }, "cdk_nag").rules_to_suppress).map((s) =>
        obj(s, "suppression"),
      ),
    );
    expect(suppressions.length).toBeGreaterThan(0);
    for (const s of suppressions) {
      expect(reviewed, String(s.id)).toContain(s.id);
      expect(String(s.reason).length, String(s.id)).toBeGreaterThanOrEqual(40);
    }
  });
});

describe("outputs", () => {
  it("exports the admin key secret's ARN (not its value)", () => {
    const [[secret]] = ofType("AWS::SecretsManager::Secret") as [[string, CfnResource]];
    expect(outputs.AdminKeySecretArn?.Value).toEqual({ Ref: secret });
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
