/**
 * The built-in agents (stacks/agents.ts, stacks/agent-resources.ts): their queues and consumers, and what each
 * agent alone gets (comms: SES; ops: its workspace; research: Chromium and a bucket; strategy: the planner).
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { App as CdkApp, Stack as CdkStack } from "aws-cdk-lib";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { describe, expect, it } from "vitest";
import { parseSender } from "../../packages/agents/src/comms/config.js";
import { DEFAULT_WORKSPACE_DIR } from "../../packages/agents/src/ops/config.js";
import { BUILTIN_SCALING } from "../../packages/agents/src/scaling.js";
import { builtinSpecs } from "../../packages/agents/src/specs.js";
import { PLANNER_CONFIG } from "../../packages/agents/src/strategy/providers.js";
import {
  ARTIFACT_RETENTION_DAYS,
  CHROMIUM_LAYER_DIR,
  chromiumBinDir,
  OPS_WORKSPACE_DIR,
  plannerAccess,
  SCREENSHOTS_PREFIX,
} from "../../stacks/agent-resources.js";
import { BUILTIN_AGENTS, builtinScaling } from "../../stacks/agents.js";
import { PAYLOADS_PREFIX } from "../../stacks/payloads.js";
import {
  apiReservedConcurrency,
  commsSettingsEnv,
  opsSettingsEnv,
  plannerSettingsEnv,
  senderAddress,
} from "../../stacks/settings.js";
import {
  ACCOUNT,
  AGENT_SETTINGS,
  agentFunction,
  allStatements,
  asArray,
  type CfnResource,
  env,
  type JsonObject,
  nexusFunctions,
  normalize,
  num,
  obj,
  ofType,
  onlyFunction,
  PLANNER_MODEL,
  PREFIX,
  props,
  queueByName,
  REGION,
  refOf,
  render,
  resources,
  roleOf,
  roleStatements,
  SCALING_SETTINGS,
  SENDER_ADDRESS,
  SSRF_ALLOW,
  type Statement,
  scalingOf,
  secretByName,
  statementsOf,
  synthesizeApp,
  tmp,
} from "./synth.js";

synthesizeApp();

/** A bucket no one outside the account reaches, encrypted with S3-managed keys. */
function expectPrivateEncrypted(p: Record<string, unknown>) {
  expect(p.PublicAccessBlockConfiguration).toEqual({
    BlockPublicAcls: true,
    BlockPublicPolicy: true,
    IgnorePublicAcls: true,
    RestrictPublicBuckets: true,
  });
  expect(p.BucketEncryption).toEqual({
    ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }],
  });
}

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
    "%s: consumer reports batch item failures, scaled as configured; visibility timeout 6x its timeout + window",
    (id, agent) => {
      const queue = queueByName(`${PREFIX}${id}`);
      const mappings = ofType("AWS::Lambda::EventSourceMapping").filter(
        ([, r]) => refOf(r.Properties?.EventSourceArn) === `${queue}.Arn`,
      );
      expect(mappings).toHaveLength(1);
      const mapping = (mappings[0] as [string, CfnResource])[1].Properties ?? {};
      expect(mapping.FunctionResponseTypes).toEqual(["ReportBatchItemFailures"]);
      const scaling = scalingOf(id);
      expect(mapping.BatchSize).toBe(scaling.batchSize);
      expect(mapping.MaximumBatchingWindowInSeconds).toBe(scaling.batchingWindowSeconds || undefined);
      expect(mapping.ScalingConfig).toEqual({ MaximumConcurrency: scaling.maxConcurrency });

      const fn = refOf(mapping.FunctionName);
      if (!fn) throw new Error("event source mapping has no function");
      expect(props(fn).Handler).toBe(`functions/agents/${id}.handler`);
      expect(env(fn).NEXUS_AGENT_ID).toBe(id);
      expect(fn).toBe(agentFunction(id));
      expect(props(fn).MemorySize).toBe(scaling.memorySize);
      expect(props(fn).EphemeralStorage).toEqual({ Size: agent.diskSize ?? 512 });
      const timeout = num(props(fn).Timeout, "Timeout");
      expect(timeout).toBe(scaling.timeoutSeconds);
      expect(num(props(queue).VisibilityTimeout, "VisibilityTimeout")).toBe(
        6 * timeout + scaling.batchingWindowSeconds,
      );
    },
  );

  it("takes each agent's scaling from NEXUS_AGENT_SCALING in the deploying shell, the defaults for the rest", () => {
    // The ops agent is configured while synthesizing (SCALING_SETTINGS): each of its values reaches the template.
    const queue = queueByName(`${PREFIX}ops`);
    const fn = agentFunction("ops");
    const mapping = ofType("AWS::Lambda::EventSourceMapping").find(([, r]) => refOf(r.Properties?.FunctionName) === fn);
    expect(mapping?.[1].Properties).toMatchObject({
      BatchSize: 25,
      MaximumBatchingWindowInSeconds: 2,
      ScalingConfig: { MaximumConcurrency: 20 },
    });
    expect(props(fn)).toMatchObject({ MemorySize: 1024, Timeout: 90 });
    expect(props(queue).VisibilityTimeout).toBe(6 * 90 + 2);
    // The others keep their defaults.
    for (const id of ["diag", "comms", "research", "strategy"]) expect(scalingOf(id), id).toEqual(BUILTIN_SCALING[id]);
    expect(builtinScaling({})).toEqual(BUILTIN_SCALING);
  });

  it("refuses a scaling setting Lambda or the agents would refuse, naming the variable and the field", () => {
    const refused = (setting: unknown) => () => builtinScaling({ NEXUS_AGENT_SCALING: JSON.stringify(setting) });
    expect(refused({ opz: { batchSize: 5 } })).toThrow(/NEXUS_AGENT_SCALING.*opz: no such built-in agent/);
    expect(refused({ ops: { maxConcurrency: 1 } })).toThrow(/NEXUS_AGENT_SCALING.*ops\.maxConcurrency/);
    expect(refused({ ops: { timeoutSeconds: 901 } })).toThrow(/ops\.timeoutSeconds/);
    expect(refused({ ops: { memorySize: 64 } })).toThrow(/ops\.memorySize/);
    expect(refused({ ops: { batchSize: 2.5 } })).toThrow(/ops\.batchSize/);
    expect(refused({ ops: { concurrency: 3 } })).toThrow(/NEXUS_AGENT_SCALING/);
    expect(refused({ ops: { batchSize: 50 } })).toThrow(/ops\.batchSize: over 10 needs batchingWindowSeconds/);
    expect(() => builtinScaling({ NEXUS_AGENT_SCALING: "{ops" })).toThrow(/NEXUS_AGENT_SCALING.*must be JSON/);
    expect(builtinScaling({ NEXUS_AGENT_SCALING: " " })).toEqual(BUILTIN_SCALING);
  });

  it("gives every built-in agent a timeout that covers its longest action and the final write", () => {
    for (const spec of builtinSpecs) {
      const longest = Math.max(...spec.actions.map((action) => action.timeoutSeconds ?? 0));
      expect(BUILTIN_SCALING[spec.id]?.timeoutSeconds, spec.id).toBeGreaterThanOrEqual(longest + 5);
    }
  });
});

describe("API function", () => {
  it("has the reserved concurrency the deploying shell sets, and none unless set", () => {
    expect(props(onlyFunction("functions/api.handler")).ReservedConcurrentExecutions).toBe(
      Number(SCALING_SETTINGS.NEXUS_API_RESERVED_CONCURRENCY),
    );
    expect(apiReservedConcurrency({})).toBeUndefined();
    expect(apiReservedConcurrency({ NEXUS_API_RESERVED_CONCURRENCY: " " })).toBeUndefined();
    expect(apiReservedConcurrency({ NEXUS_API_RESERVED_CONCURRENCY: " 50 " })).toBe(50);
    for (const bad of ["0", "-1", "1.5", "ten", "1001", "1e3"]) {
      expect(() => apiReservedConcurrency({ NEXUS_API_RESERVED_CONCURRENCY: bad }), bad).toThrow(
        /NEXUS_API_RESERVED_CONCURRENCY/,
      );
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
    // The other bucket holds task payloads (stacks/payloads.ts, tested below).
    const buckets = ofType("AWS::S3::Bucket").filter(([id]) => !id.startsWith("Payloads"));
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
    expectPrivateEncrypted(p);
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
      ({ statement }) =>
        statement.Effect === "Allow" &&
        statement.Action.some((a) => /^s3:/i.test(a)) &&
        statement.Resource.some((r) => render(r).includes(bucket)),
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

describe("task payloads (stacks/payloads.ts)", () => {
  const payloadsBucket = (): string => {
    const buckets = ofType("AWS::S3::Bucket").filter(([id]) => id.startsWith("Payloads"));
    expect(buckets).toHaveLength(1);
    return (buckets[0] as [string, CfnResource])[0];
  };
  /** What each function may do with payload objects, by function id. */
  const grants = () => {
    const bucket = payloadsBucket();
    const byFunction = new Map<string, string[]>();
    for (const [fn] of nexusFunctions()) {
      const statements = roleStatements(roleOf(fn)).filter((s) => s.Resource.some((r) => render(r).includes(bucket)));
      if (statements.length === 0) continue;
      for (const s of statements) expect(s.Resource.map(render), fn).toEqual([`\${${bucket}.Arn}/${PAYLOADS_PREFIX}*`]);
      byFunction.set(fn, [...new Set(statements.flatMap((s) => s.Action))].sort());
    }
    return byFunction;
  };

  it("keeps them in a private, TLS-only, encrypted bucket, retained and never expired (tasks are kept)", () => {
    const bucket = payloadsBucket();
    const p = props(bucket);
    expectPrivateEncrypted(p);
    const rules = asArray(obj(p.LifecycleConfiguration, "LifecycleConfiguration").Rules).map((r) => obj(r, "Rule"));
    expect(rules.every((r) => r.ExpirationInDays === undefined)).toBe(true);
    expect(resources[bucket]?.DeletionPolicy).toBe("Retain");
  });

  it("grants exactly who reads and writes them, under tasks/ only, and names the bucket to them alone", () => {
    const expected = new Map<string, string[]>([
      [onlyFunction("functions/api.handler"), ["s3:GetObject", "s3:PutObject"]],
      [onlyFunction("functions/plans.handler"), ["s3:GetObject", "s3:PutObject"]],
      [onlyFunction("functions/schedule.handler"), ["s3:PutObject"]],
      ...BUILTIN_AGENTS.map((agent): [string, string[]] => [agentFunction(agent.id), ["s3:GetObject", "s3:PutObject"]]),
    ]);
    expect(grants()).toEqual(expected);
    for (const [fn] of nexusFunctions()) {
      const named = env(fn).NEXUS_PAYLOADS;
      if (expected.has(fn)) expect(named, fn).toEqual({ Ref: payloadsBucket() });
      else expect(named, fn).toBeUndefined();
    }
  });
});
