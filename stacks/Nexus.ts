import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { ArnFormat, type Stack as CdkStack, Duration, RemovalPolicy } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import * as logs from "aws-cdk-lib/aws-logs";
import * as s3 from "aws-cdk-lib/aws-s3";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as sqs from "aws-cdk-lib/aws-sqs";
import * as sfn from "aws-cdk-lib/aws-stepfunctions";
import { type NagPackSuppression, NagSuppressions } from "cdk-nag";
import { Api, Cron, type FunctionProps, Function as SstFunction, type Stack, type StackContext } from "sst/constructs";
import { useProject } from "sst/project.js";
import { scheduleDlqName, scheduleFunctionName, schedulerRoleName } from "../packages/core/src/schedules/names.js";
import { HealthSettings } from "../packages/core/src/schemas.js";
import { GSIS, gsiKeys, TABLE_KEYS } from "../packages/core/src/storage/table.js";

/**
 * A built-in agent: one queue (+ DLQ) and one consumer function each (functions/agents/<id>.ts).
 * An entry holds what differs per agent; `provision` creates what only that agent may use.
 */
export interface BuiltinAgent {
  /** Lower-case id; also the queue name suffix and `NEXUS_AGENT_ID`. */
  readonly id: string;
  /** Consumer function timeout, seconds. The queue's visibility timeout is derived from it. */
  readonly timeout: number;
  /** Consumer function memory, MB. */
  readonly memorySize: number;
  /** Default: the app's (arm_64, sst.config.ts). */
  readonly architecture?: "arm_64" | "x86_64";
  /** Ephemeral storage (/tmp), MB. Default: Lambda's 512. */
  readonly diskSize?: number;
  /** Messages per invocation. Default: {@link DEFAULT_BATCH_SIZE}. */
  readonly batchSize?: number;
  /** Resources of this agent alone, and the environment, statements and layers its function gets for them. */
  readonly provision?: (scope: AgentScope) => AgentResources;
}

/** What an agent's `provision` works with. */
export interface AgentScope {
  readonly stack: Stack;
  readonly ephemeral: boolean;
  /** The deploying shell's environment (read at synth time). */
  readonly env: NodeJS.ProcessEnv;
  /** A construct id in this agent's namespace: `Agent<Id><name>`. */
  id(name: string): string;
  /**
   * A secret named `<app>/<stage>/<name>` that the operator fills in with `aws secretsmanager put-secret-value`
   * (created holding `{}`, a placeholder), retained unless the stage is ephemeral. Its ARN is a stack output.
   */
  providerSecret(name: string, description: string): secretsmanager.Secret;
}

/** Given to the agent's function and role only. */
export interface AgentResources {
  /** Settings, resource names and ARNs; never a secret's value. */
  readonly environment?: Readonly<Record<string, string>>;
  /** Extra statements of its role, each on named resources. */
  readonly statements?: readonly iam.PolicyStatement[];
  readonly layers?: readonly lambda.ILayerVersion[];
  /** cdk-nag suppressions on its role, each with its specific reason. */
  readonly roleSuppressions?: readonly NagPackSuppression[];
  /**
   * Also given to the API function and its role, for work the API does with this agent's resources (the strategy
   * agent's planner also runs in the API, for `POST /v1/plans`). Absent: the API gets nothing of this agent's.
   */
  readonly api?: Omit<AgentResources, "layers" | "api">;
}

export const BUILTIN_AGENTS: readonly BuiltinAgent[] = [
  { id: "diag", timeout: 60, memorySize: 512 },
  { id: "comms", timeout: 60, memorySize: 512, provision: commsResources },
  { id: "ops", timeout: 60, memorySize: 512, provision: opsResources },
  {
    id: "research",
    timeout: 120,
    memorySize: 2048,
    // @sparticuz/chromium ships an x64 binary only.
    architecture: "x86_64",
    // Chromium unpacks to /tmp (~190 MB, plus its libraries and fonts), and each task gets a profile directory.
    diskSize: 1024,
    // One browser per container: one task per invocation.
    batchSize: 1,
    provision: researchResources,
  },
  { id: "strategy", timeout: 60, memorySize: 512, provision: strategyResources },
];

/** Messages per invocation unless the agent says otherwise. */
export const DEFAULT_BATCH_SIZE = 10;
/** Receives before SQS moves a message to the DLQ (the agent dead-letters exhausted tasks itself before that). */
export const MAX_RECEIVE_COUNT = 5;
/** AWS guidance for SQS event sources: visibility timeout at least 6x the function timeout. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;
/** Number attribute (epoch seconds) that DynamoDB TTL deletes items by. */
export const TTL_ATTRIBUTE = "expiresAt";
const LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

/** Stages whose data may be thrown away with the stack. Every other stage retains the table. */
export function isEphemeralStage(stage: string): boolean {
  return ["dev", "local", "test"].some((prefix) => stage.startsWith(prefix));
}

/**
 * Longest queue name prefix the stack accepts: app and stage names of 40 characters together. Every function's
 * environment lists each built-in agent's queue and DLQ by URL and ARN, which grow with the prefix; within this bound
 * the largest environment (the API's) stays under Lambda's 4 KB in any region (tests/stacks.test.ts checks it).
 */
export const MAX_QUEUE_PREFIX_LENGTH = 48;

/** Queue name prefix shared by built-in and custom agents: `<prefix><agentId>` and `<prefix><agentId>-dlq`. */
export function queuePrefix(appName: string, stage: string): string {
  const prefix = `${appName}-${stage}-agent-`;
  if (prefix.length > MAX_QUEUE_PREFIX_LENGTH) {
    throw new Error(
      `The app and stage names are too long: "${appName}" and "${stage}" have ${appName.length + stage.length} characters together, at most ${MAX_QUEUE_PREFIX_LENGTH - "--agent-".length} fit the queue URLs and ARNs in every function's environment (Lambda's 4 KB)`,
    );
  }
  return prefix;
}

/** Name of the plan state machine: fixed, so that functions can be granted access to it before it exists. */
export function planStateMachineName(appName: string, stage: string): string {
  return `${appName}-${stage}-plans`;
}

/** Name of the EventBridge Scheduler schedule group holding every Nexus schedule: fixed, so that the API may be granted
 * its schedules (and nothing else) before any exists. */
export function scheduleGroupName(appName: string, stage: string): string {
  return `${appName}-${stage}-schedules`;
}

/** The plan state machine's definition (Amazon States Language, JSONPath), relative to the project root. */
export const PLAN_ASL_FILE = "packages/core/src/plans/plan.asl.json";
/** The definition's only placeholder (`${PlanRunnerArn}`), substituted by CloudFormation with the runner's ARN. */
export const PLAN_RUNNER_PLACEHOLDER = "PlanRunnerArn";

/**
 * The plan definition as deployed: the file's JSON, minified. Fails the synth when the file is not JSON or has a
 * placeholder other than `${PlanRunnerArn}` (CloudFormation would leave it in place, and Step Functions reject it).
 */
export function planDefinitionBody(root: string): string {
  const text = readFileSync(path.join(root, PLAN_ASL_FILE), "utf8");
  const placeholders = new Set([...text.matchAll(/\$\{([^}]*)\}/g)].map(([, name]) => name));
  const unknown = [...placeholders].filter((name) => name !== PLAN_RUNNER_PLACEHOLDER);
  if (unknown.length > 0 || !placeholders.has(PLAN_RUNNER_PLACEHOLDER)) {
    throw new Error(
      `${PLAN_ASL_FILE} must use exactly one placeholder, \${${PLAN_RUNNER_PLACEHOLDER}}; found ${JSON.stringify([...placeholders])}`,
    );
  }
  return JSON.stringify(JSON.parse(text));
}

/**
 * HTTP API access log line: who called what and how it went. Deliberately no request header values
 * (Authorization, User-Agent, or the Host header behind `$context.domainName`), no query string and no body.
 * SST's default format includes `$context.identity.userAgent`, a request header, so the stack sets its own.
 */
export const ACCESS_LOG_FORMAT = `{${[
  '"requestId":"$context.requestId"',
  '"requestTime":"$context.requestTime"',
  '"ip":"$context.identity.sourceIp"',
  '"httpMethod":"$context.httpMethod"',
  '"path":"$context.path"',
  '"routeKey":"$context.routeKey"',
  '"protocol":"$context.protocol"',
  // Always numbers, so unquoted (as in SST's default); the rest may be "-" when absent.
  '"status":$context.status',
  '"responseLatency":$context.responseLatency',
  '"responseLength":"$context.responseLength"',
  '"integrationStatus":"$context.integration.status"',
  '"integrationLatency":"$context.integration.latency"',
  '"integrationError":"$context.integrationErrorMessage"',
].join(",")}}`;

/**
 * Optional API settings passed through from the deploying shell (`NEXUS_RATE_LIMIT_PER_MINUTE`, `NEXUS_DAILY_CAPS`),
 * checked here so that a bad value fails the deploy instead of every API cold start
 * (packages/core/src/context.ts parses the same variables). Unset or empty → absent (the API's defaults apply).
 */
export function apiSettingsEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  const rate = env.NEXUS_RATE_LIMIT_PER_MINUTE?.trim();
  if (rate) {
    if (!/^[1-9][0-9]*$/.test(rate)) {
      throw new Error(`NEXUS_RATE_LIMIT_PER_MINUTE must be a positive integer, got ${JSON.stringify(rate)}`);
    }
    out.NEXUS_RATE_LIMIT_PER_MINUTE = rate;
  }
  const caps = env.NEXUS_DAILY_CAPS?.trim();
  if (caps) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(caps);
    } catch {
      throw new Error(`NEXUS_DAILY_CAPS must be JSON, got ${JSON.stringify(caps)}`);
    }
    const valid =
      typeof parsed === "object" &&
      parsed !== null &&
      !Array.isArray(parsed) &&
      Object.values(parsed).every((v) => Number.isInteger(v) && (v as number) >= 0);
    if (!valid) {
      throw new Error(
        `NEXUS_DAILY_CAPS must be a JSON object of non-negative integers by "<agentId>.<action>", got ${caps}`,
      );
    }
    out.NEXUS_DAILY_CAPS = JSON.stringify(parsed);
  }
  return out;
}

/**
 * Agent health settings from the deploying shell: `NEXUS_HEALTH`, JSON with any of `onlineIntervals`, `offlineIntervals`,
 * `errorRate`, `minSamples` and `probeIntervalSeconds` (packages/core/src/schemas.ts, `HealthSettings`, which
 * packages/core/src/context.ts parses again). Unset or empty → no variable, the defaults apply. Malformed, or a probe
 * interval that is not whole minutes (the probe schedule's rate) → the synth fails. Returns the variable for every
 * function and the probe interval the probe schedule runs at.
 */
export function healthSettingsEnv(env: NodeJS.ProcessEnv): {
  environment: Record<string, string>;
  probeIntervalMinutes: number;
} {
  const raw = env.NEXUS_HEALTH?.trim();
  let parsed: unknown = {};
  if (raw) {
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new Error(`NEXUS_HEALTH must be JSON, got ${JSON.stringify(raw)}`);
    }
  }
  const settings = HealthSettings.safeParse(parsed);
  if (!settings.success) {
    const fields = settings.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new Error(`NEXUS_HEALTH is not valid (${fields}), got ${raw}`);
  }
  const { probeIntervalSeconds } = settings.data;
  if (probeIntervalSeconds % 60 !== 0) {
    throw new Error(
      `NEXUS_HEALTH.probeIntervalSeconds must be whole minutes (the probe's rate), got ${probeIntervalSeconds}`,
    );
  }
  return {
    environment: raw ? { NEXUS_HEALTH: JSON.stringify(settings.data) } : {},
    probeIntervalMinutes: probeIntervalSeconds / 60,
  };
}

/** CloudWatch namespace of the sweeper's per-agent metrics (EMF): `<app>/<stage>`. */
export function metricsNamespace(appName: string, stage: string): string {
  return `${appName}/${stage}`;
}

/**
 * The comms agent's settings from the deploying shell: `NEXUS_EMAIL_FROM`, the sender of every email (an SES-verified
 * identity, `name@example.com` or `Display Name <name@example.com>`), and `NEXUS_SES_REGION` when SES is used in
 * another region. Unset or empty → absent: email actions then fail with `not_configured`, and the role gets no
 * SES permission. Malformed → the synth fails (packages/agents/src/comms/config.ts checks the sender again).
 */
export function commsSettingsEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  const from = env.NEXUS_EMAIL_FROM?.trim();
  if (from) {
    senderAddress(from); // throws when malformed
    out.NEXUS_EMAIL_FROM = from;
  }
  const region = env.NEXUS_SES_REGION?.trim();
  if (region) {
    if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) {
      throw new Error(`NEXUS_SES_REGION must be an AWS region such as eu-west-1, got ${JSON.stringify(region)}`);
    }
    out.NEXUS_SES_REGION = region;
  }
  return out;
}

/** The address of a `NEXUS_EMAIL_FROM` value without its display name: what SES's `ses:FromAddress` key compares. */
export function senderAddress(from: string): string {
  const match = /^(?:(.*?)\s*<([^<>\s]+)>|([^<>\s]+))$/.exec(from.trim());
  const address = match?.[2] ?? match?.[3] ?? "";
  if (!/^[^@\s"]+@[^@\s"]+\.[^@\s"]+$/.test(address)) {
    throw new Error(
      `NEXUS_EMAIL_FROM must be 'name@example.com' or 'Display Name <name@example.com>', got ${JSON.stringify(from)}`,
    );
  }
  return address;
}

/**
 * The ops agent's settings from the deploying shell: `NEXUS_HTTP_ALLOW`, the comma-separated `host[:port]` entries
 * http_check may reach (unset → none). Entries the agent cannot parse are ignored by it, with a warning.
 */
export function opsSettingsEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const allow = env.NEXUS_HTTP_ALLOW?.trim();
  return allow ? { NEXUS_HTTP_ALLOW: allow } : {};
}

/** LLM providers the planner supports. */
export const PLANNER_PROVIDERS = ["bedrock", "openai"] as const;
/** Geography prefixes of Bedrock's system-defined cross-Region inference profiles (`us.anthropic.…`). */
const INFERENCE_PROFILE_PREFIX = /^(us|us-gov|eu|apac|jp|au|ca|global)\./;

/**
 * The planner's LLM settings from the deploying shell: `NEXUS_PLANNER_PROVIDER` (`bedrock` or `openai`; unset → no
 * LLM, the rules planner alone), `NEXUS_PLANNER_MODEL` (for Bedrock, a model id or a cross-Region inference profile
 * id; required) and `NEXUS_PLANNER_URL` (the OpenAI-compatible API's base URL, or a Bedrock endpoint override), as
 * packages/agents/src/strategy/providers.ts reads them. Malformed, or a model or URL without a provider → the synth
 * fails. (`NEXUS_PLANNER_TIMEOUT_MS` is not passed: its default fits the API's 29 s, which serves the same planner.)
 */
export function plannerSettingsEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const provider = env.NEXUS_PLANNER_PROVIDER?.trim();
  const model = env.NEXUS_PLANNER_MODEL?.trim();
  const url = env.NEXUS_PLANNER_URL?.trim();
  if (!provider) {
    if (model || url) {
      throw new Error("NEXUS_PLANNER_MODEL and NEXUS_PLANNER_URL need NEXUS_PLANNER_PROVIDER (bedrock or openai)");
    }
    return {};
  }
  if (!(PLANNER_PROVIDERS as readonly string[]).includes(provider)) {
    throw new Error(
      `NEXUS_PLANNER_PROVIDER must be one of ${PLANNER_PROVIDERS.join(", ")}, got ${JSON.stringify(provider)}`,
    );
  }
  const out: Record<string, string> = { NEXUS_PLANNER_PROVIDER: provider };
  if (model) {
    // The Bedrock grant names the model: an id, not an ARN (the ARN is built from it).
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/.test(model)) {
      throw new Error(
        `NEXUS_PLANNER_MODEL must be a model id such as anthropic.claude-3-5-haiku-20241022-v1:0, got ${JSON.stringify(model)}`,
      );
    }
    out.NEXUS_PLANNER_MODEL = model;
  } else if (provider === "bedrock") {
    throw new Error("NEXUS_PLANNER_PROVIDER=bedrock needs NEXUS_PLANNER_MODEL (the model the planner may invoke)");
  }
  if (url) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    // The OpenAI-compatible API key goes there with every request (packages/agents/src/strategy/providers.ts).
    if (parsed?.protocol !== "https:") {
      throw new Error(`NEXUS_PLANNER_URL must be an https URL, got ${JSON.stringify(url)}`);
    }
    out.NEXUS_PLANNER_URL = url;
  }
  return out;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

const pascal = (s: string) =>
  s
    .split(/[^a-zA-Z0-9]+/)
    .filter(Boolean)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join("");

/**
 * An SST function with its own log group (retention set) and its own role that can write only to that group.
 * No AWS managed policy is attached; callers add exactly the statements the function needs.
 */
function nexusFunction(stack: Stack, id: string, props: FunctionProps & { handler: string }): SstFunction {
  const logGroup = new logs.LogGroup(stack, `${id}Logs`, { retention: LOG_RETENTION });
  const role = new iam.Role(stack, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
    description: `Execution role of ${id} (${props.handler})`,
  });
  logGroup.grantWrite(role);
  const fn = new SstFunction(stack, id, { ...props, role, logGroup });
  NagSuppressions.addResourceSuppressions(
    role,
    [
      {
        id: "AwsSolutions-IAM5",
        reason:
          'Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level permissions (Resource "*"). tests/stacks.test.ts checks that "*" resources carry only xray actions.',
        appliesTo: ["Resource::*"],
      },
    ],
    true,
  );
  return fn;
}

// ── Built-in agents' own resources ─────────────────────────────────────────────────────────────────

const readSecrets = (...secrets: secretsmanager.ISecret[]) =>
  // Not `grantRead`: that also adds secretsmanager:DescribeSecret, which Powertools' SecretsProvider does not call.
  // The secrets use the AWS managed key, so no kms:Decrypt grant either.
  new iam.PolicyStatement({
    actions: ["secretsmanager:GetSecretValue"],
    resources: secrets.map((secret) => secret.secretArn),
  });

/** comms: SES email from the configured sender; Twilio credentials and chat webhooks from its own secrets. */
function commsResources({ stack, env, providerSecret }: AgentScope): AgentResources {
  const settings = commsSettingsEnv(env);
  const twilio = providerSecret(
    "twilio",
    'Twilio credentials of the comms agent: {"accountSid":"AC...","authToken":"...","from":"+1..."} ("messagingServiceSid" may replace "from").',
  );
  const chat = providerSecret(
    "chat",
    'Chat webhooks of the comms agent by channel: {"<channel>":{"type":"slack" or "teams","url":"https://..."}}.',
  );
  const from = settings.NEXUS_EMAIL_FROM;
  // Sending identities and, in the SES sandbox, recipient identities are checked: no narrower resource works.
  const identities = stack.formatArn({
    service: "ses",
    region: settings.NEXUS_SES_REGION ?? stack.region,
    resource: "identity",
    resourceName: "*",
  });
  return {
    environment: { ...settings, NEXUS_TWILIO_SECRET: twilio.secretArn, NEXUS_CHAT_SECRET: chat.secretArn },
    statements: [
      readSecrets(twilio, chat),
      // No sender, no email (the agent fails those tasks with not_configured before calling SES): no grant.
      // SendEmail only: packages/agents/src/comms/email.ts sends no raw email.
      ...(from
        ? [
            new iam.PolicyStatement({
              actions: ["ses:SendEmail"],
              resources: [identities],
              conditions: { StringEquals: { "ses:FromAddress": senderAddress(from) } },
            }),
          ]
        : []),
    ],
    roleSuppressions: [
      {
        id: "AwsSolutions-IAM5",
        reason:
          'SES authorizes SendEmail against the sender identity and, while the account is in the SES sandbox, every recipient identity too, so the statement names "identity/*" in one region; it is conditioned on ses:FromAddress being the configured NEXUS_EMAIL_FROM address.',
        appliesTo: [{ regex: "/^Resource::arn:<AWS::Partition>:ses:[^:]+:[^:]+:identity\\/\\*$/" }],
      },
    ],
  };
}

/** Where the ops agent's file actions and commands work (Lambda's writable /tmp). */
export const OPS_WORKSPACE_DIR = "/tmp/nexus-workspace";

/** ops: a workspace under /tmp and the hosts http_check may reach. No AWS access beyond its queue and the table. */
function opsResources({ env }: AgentScope): AgentResources {
  return { environment: { NEXUS_WORKSPACE_DIR: OPS_WORKSPACE_DIR, ...opsSettingsEnv(env) } };
}

/** Where the research agent's layer is mounted. */
export const CHROMIUM_LAYER_DIR = "/opt";
/**
 * Key prefix of the research agent's screenshots: render_page names them `screenshots/<taskId>.png`
 * (packages/agents/src/research/browser.ts), so NEXUS_ARTIFACTS_PREFIX stays unset (it would double the prefix).
 */
export const SCREENSHOTS_PREFIX = "screenshots/";
/** Screenshot links are presigned for an hour; the objects go after this many days. */
export const ARTIFACT_RETENTION_DAYS = 7;

/**
 * @sparticuz/chromium's compressed binaries (chromium.br, al2023.tar.br, fonts.tar.br, swiftshader.tar.br), as npm
 * installed them: the research agent's layer, so the synth needs no download. Its JS is bundled with the function.
 */
export function chromiumBinDir(): string {
  // <package>/build/cjs/index.cjs → <package>/bin
  const entry = createRequire(import.meta.url).resolve("@sparticuz/chromium");
  const dir = path.resolve(path.dirname(entry), "..", "..", "bin");
  if (!existsSync(path.join(dir, "chromium.br"))) {
    throw new Error(`@sparticuz/chromium's binaries are missing from ${dir}: run npm ci`);
  }
  return dir;
}

/** research: Chromium as a layer, a bucket for screenshots, and lookup providers from its own secret. */
function researchResources({ stack, ephemeral, id, providerSecret }: AgentScope): AgentResources {
  const chromium = new lambda.LayerVersion(stack, id("ChromiumLayer"), {
    code: lambda.Code.fromAsset(chromiumBinDir()),
    compatibleArchitectures: [lambda.Architecture.X86_64],
    description: "@sparticuz/chromium binaries (x86_64), unpacked by the research agent from /opt",
    license: "MIT",
  });
  // Set on the L1 resource: CDK checks a layer's runtimes against the function's when it is attached, and SST builds
  // functions on a nodejs22.x placeholder until their code is bundled (then sets nodejs24.x, the app's runtime).
  (chromium.node.defaultChild as lambda.CfnLayerVersion).compatibleRuntimes = [lambda.Runtime.NODEJS_24_X.name];
  const artifacts = new s3.Bucket(stack, id("Artifacts"), {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    lifecycleRules: [
      { expiration: Duration.days(ARTIFACT_RETENTION_DAYS), abortIncompleteMultipartUploadAfter: Duration.days(1) },
    ],
    // SST would turn auto-deletion on for ephemeral stages anyway (their default removal policy is destroy).
    removalPolicy: ephemeral ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    autoDeleteObjects: ephemeral,
  });
  NagSuppressions.addResourceSuppressions(artifacts, [
    {
      id: "AwsSolutions-S1",
      reason:
        "Holds only render_page screenshots, written by the research role and expired after 7 days; they are read through presigned URLs. Object-level auditing is CloudTrail S3 data events (enable them on the account trail where required) rather than a second, log-holding bucket.",
    },
  ]);
  const lookup = providerSecret(
    "lookup",
    'Lookup providers of the research agent: {"<provider>":{"url":"https://...?q={query}","apiKey":"...","apiKeyHeader":"X-Api-Key","resultPath":"..."}}.',
  );
  return {
    environment: {
      NEXUS_CHROMIUM_BIN_DIR: CHROMIUM_LAYER_DIR,
      NEXUS_ARTIFACTS_BUCKET: artifacts.bucketName,
      NEXUS_LOOKUP_SECRET: lookup.secretArn,
    },
    statements: [
      readSecrets(lookup),
      // PutObject to store a screenshot, GetObject for the presigned link to it (signed with this role).
      new iam.PolicyStatement({
        actions: ["s3:PutObject", "s3:GetObject"],
        resources: [artifacts.arnForObjects(`${SCREENSHOTS_PREFIX}*`)],
      }),
    ],
    layers: [chromium],
    roleSuppressions: [
      {
        id: "AwsSolutions-IAM5",
        reason: `Screenshot objects are named per task at runtime (${SCREENSHOTS_PREFIX}<taskId>.png), so the role may put and get objects under that prefix of its own bucket only.`,
        appliesTo: [
          { regex: `/^Resource::<${id("Artifacts")}[0-9A-F]{8}\\.Arn>\\/${escapeRegex(`${SCREENSHOTS_PREFIX}*`)}$/` },
        ],
      },
    ],
  };
}

/**
 * What running the planner takes, wherever it runs (the strategy agent, and the API for `POST /v1/plans`): the LLM
 * settings, the `planner` secret (the OpenAI-compatible API key) by ARN and read access to it, and, when the provider
 * is Bedrock, bedrock:InvokeModel on the configured model only (Converse is authorized as InvokeModel).
 * A model id → that foundation model in the stack's region. A cross-Region inference profile id (`us.…`, `eu.…`) →
 * the profile in this account and region, plus its foundation model in whichever region the profile routes the
 * request to, only through that profile.
 */
export function plannerAccess(
  stack: CdkStack,
  env: NodeJS.ProcessEnv,
  secret: secretsmanager.ISecret,
): Omit<AgentResources, "layers" | "api"> {
  const settings = plannerSettingsEnv(env);
  const statements = [readSecrets(secret)];
  const roleSuppressions: NagPackSuppression[] = [];
  const model = settings.NEXUS_PLANNER_MODEL;
  if (settings.NEXUS_PLANNER_PROVIDER === "bedrock" && model) {
    const profile = INFERENCE_PROFILE_PREFIX.exec(model);
    if (!profile) {
      statements.push(
        new iam.PolicyStatement({
          actions: ["bedrock:InvokeModel"],
          resources: [
            stack.formatArn({ service: "bedrock", account: "", resource: "foundation-model", resourceName: model }),
          ],
        }),
      );
    } else {
      const profileArn = stack.formatArn({ service: "bedrock", resource: "inference-profile", resourceName: model });
      const foundationModel = model.slice(profile[0].length);
      statements.push(
        new iam.PolicyStatement({ actions: ["bedrock:InvokeModel"], resources: [profileArn] }),
        new iam.PolicyStatement({
          actions: ["bedrock:InvokeModel"],
          resources: [
            stack.formatArn({
              service: "bedrock",
              region: "*",
              account: "",
              resource: "foundation-model",
              resourceName: foundationModel,
            }),
          ],
          conditions: { StringEquals: { "bedrock:InferenceProfileArn": profileArn } },
        }),
      );
      roleSuppressions.push({
        id: "AwsSolutions-IAM5",
        reason: `The planner's model is the cross-Region inference profile ${model}, which routes each request to ${foundationModel} in one of its geography's regions, chosen by Bedrock at request time; the foundation model is allowed in any region only through that profile (condition bedrock:InferenceProfileArn).`,
        appliesTo: [
          {
            regex: `/^Resource::arn:<AWS::Partition>:bedrock:\\*::foundation-model\\/${escapeRegex(foundationModel)}$/`,
          },
        ],
      });
    }
  }
  return {
    environment: { ...settings, NEXUS_PLANNER_SECRET: secret.secretArn },
    statements,
    ...(roleSuppressions.length ? { roleSuppressions } : {}),
  };
}

/** strategy: turns goals into plans, with the rules planner and, when configured, an LLM (see {@link plannerAccess}). */
function strategyResources({ stack, env, providerSecret }: AgentScope): AgentResources {
  const secret = providerSecret(
    "planner",
    'API key of the planner\'s OpenAI-compatible LLM provider (NEXUS_PLANNER_PROVIDER=openai): {"apiKey":"..."}. Unused with Bedrock or without an LLM.',
  );
  // The API plans `POST /v1/plans` goals itself: the same settings and grants, as statements of its own role.
  return { ...plannerAccess(stack, env, secret), api: plannerAccess(stack, env, secret) };
}

export function Nexus({ app, stack }: StackContext) {
  const ephemeral = isEphemeralStage(app.stage);
  const prefix = queuePrefix(app.name, app.stage);
  // The plan state machine's ARNs, formatted from its fixed name: the state machine's definition names the plan
  // runner, whose policy (like the API's and the agents') names the state machine, so these must not be references.
  const stateMachineName = planStateMachineName(app.name, app.stage);
  const stateMachineArn = stack.formatArn({
    service: "states",
    resource: "stateMachine",
    resourceName: stateMachineName,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  const executionArns = stack.formatArn({
    service: "states",
    resource: "execution",
    resourceName: `${stateMachineName}:*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  // Plan runs are executions named at runtime (per plan and run): roles that touch them name that state machine's only.
  const executionsSuppression = (what: string) => ({
    id: "AwsSolutions-IAM5",
    reason: `A plan run is an execution of the ${stateMachineName} state machine named at runtime (per plan and run); ${what} that state machine's executions only.`,
    appliesTo: [
      {
        regex: `/^Resource::arn:<AWS::Partition>:states:[^:]+:[^:]+:execution:${escapeRegex(stateMachineName)}:\\*$/`,
      },
    ],
  });
  // Reports a plan step's outcome through its task token. Step Functions authorizes these calls against the state
  // machine of the token's execution.
  const taskResults = (...actions: string[]) =>
    new iam.PolicyStatement({ actions: actions.map((a) => `states:${a}`), resources: [stateMachineArn] });

  // ── Table ────────────────────────────────────────────────────────────────────────────────────────
  const STRING = dynamodb.AttributeType.STRING;
  const table = new dynamodb.Table(stack, "Table", {
    partitionKey: { name: TABLE_KEYS.partitionKey, type: STRING },
    sortKey: { name: TABLE_KEYS.sortKey, type: STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    timeToLiveAttribute: TTL_ATTRIBUTE,
    deletionProtection: !ephemeral,
    removalPolicy: ephemeral ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
  });
  for (const name of GSIS) {
    const keys = gsiKeys(name);
    table.addGlobalSecondaryIndex({
      indexName: name,
      partitionKey: { name: keys.partitionKey, type: STRING },
      sortKey: { name: keys.sortKey, type: STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
  }
  // The table and each index by name: no `index/*` wildcard.
  const tableResources = [table.tableArn, ...GSIS.map((name) => `${table.tableArn}/index/${name}`)];
  const tableAccess = (...actions: string[]) =>
    new iam.PolicyStatement({ actions: actions.map((a) => `dynamodb:${a}`), resources: tableResources });

  // ── Built-in agent queues ────────────────────────────────────────────────────────────────────────
  const agents = BUILTIN_AGENTS.map((agent) => {
    if (!/^[a-z][a-z0-9-]*$/.test(agent.id) || agent.id.endsWith("-dlq")) {
      throw new Error(`Invalid built-in agent id "${agent.id}"`);
    }
    const cid = `Agent${pascal(agent.id)}`;
    const dlq = new sqs.Queue(stack, `${cid}Dlq`, {
      queueName: `${prefix}${agent.id}-dlq`,
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    const queue = new sqs.Queue(stack, `${cid}Queue`, {
      queueName: `${prefix}${agent.id}`,
      visibilityTimeout: Duration.seconds(VISIBILITY_TIMEOUT_FACTOR * agent.timeout),
      deadLetterQueue: { queue: dlq, maxReceiveCount: MAX_RECEIVE_COUNT },
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    return { agent, cid, queue, dlq };
  });
  const builtinQueueArns = agents.map(({ queue }) => queue.queueArn);
  const builtinQueueAndDlqArns = agents.flatMap(({ queue, dlq }) => [queue.queueArn, dlq.queueArn]);
  // Queues the API creates at runtime for custom agents (this pattern also matches the built-in ones).
  const customQueueArns = stack.formatArn({ service: "sqs", resource: `${prefix}*` });
  const customQueueSuppression = {
    id: "AwsSolutions-IAM5",
    reason: `Custom agents get queues created at runtime, named "${prefix}<agentId>" and "${prefix}<agentId>-dlq"; their ARNs are unknown at deploy time, so access is scoped to this app's and stage's queue-name prefix.`,
    appliesTo: [{ regex: `/^Resource::arn:<AWS::Partition>:sqs:[^:]+:[^:]+:${escapeRegex(prefix)}\\*$/` }],
  };

  // ── Environment for every function created below ─────────────────────────────────────────────────
  // Health thresholds from the deploying shell: every function that judges health (API, sweeper, agents, probe).
  const health = healthSettingsEnv(process.env);
  stack.addDefaultFunctionEnv({
    ...health.environment,
    NEXUS_STAGE: app.stage,
    NEXUS_TABLE: table.tableName,
    NEXUS_QUEUE_PREFIX: prefix,
    NEXUS_BUILTIN_QUEUES: stack.toJsonString(
      Object.fromEntries(
        agents.map(({ agent, queue, dlq }) => [
          agent.id,
          { url: queue.queueUrl, arn: queue.queueArn, dlqUrl: dlq.queueUrl, dlqArn: dlq.queueArn },
        ]),
      ),
    ),
  });

  // ── Agent consumers ──────────────────────────────────────────────────────────────────────────────
  const providerSecretArns: Record<string, string> = {};
  const agentScope = (cid: string): AgentScope => ({
    stack,
    ephemeral,
    env: process.env,
    id: (name) => `${cid}${name}`,
    providerSecret: (name, description) => {
      const secret = new secretsmanager.Secret(stack, `${cid}${pascal(name)}Secret`, {
        secretName: `${app.name}/${app.stage}/${name}`,
        description,
        // A placeholder, not a credential: the operator puts the real JSON.
        secretObjectValue: {},
        removalPolicy: ephemeral ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      });
      NagSuppressions.addResourceSuppressions(secret, [
        {
          id: "AwsSolutions-SMG4",
          reason:
            "Holds third-party provider credentials (API tokens, webhook URLs), which are rotated at the provider: the operator puts the new JSON (aws secretsmanager put-secret-value) and the agent re-reads it within 5 minutes. A rotation Lambda cannot issue provider credentials.",
        },
      ]);
      providerSecretArns[`${cid}${pascal(name)}SecretArn`] = secret.secretArn;
      return secret;
    },
  });
  // Each agent's event source mapping: the API turns it off and on when the agent is deactivated/reactivated.
  const consumers: Array<{ agentId: string; eventSource: SqsEventSource }> = [];
  // What agents give the API function besides (AgentResources.api), applied when the API function is created.
  const forApi: Array<NonNullable<AgentResources["api"]>> = [];
  const agentFunctions = agents.map(({ agent, cid, queue, dlq }) => {
    const own: AgentResources = agent.provision?.(agentScope(cid)) ?? {};
    if (own.api) forApi.push(own.api);
    const batchSize = agent.batchSize ?? DEFAULT_BATCH_SIZE;
    const fn = nexusFunction(stack, `${cid}Function`, {
      handler: `functions/agents/${agent.id}.handler`,
      timeout: agent.timeout,
      memorySize: agent.memorySize,
      ...(agent.architecture ? { architecture: agent.architecture } : {}),
      ...(agent.diskSize ? { diskSize: agent.diskSize } : {}),
      ...(own.layers?.length ? { layers: [...own.layers] } : {}),
      environment: { ...own.environment, NEXUS_AGENT_ID: agent.id },
    });
    // Also grants receive/delete/change-visibility on this queue only.
    const eventSource = new SqsEventSource(queue, {
      batchSize,
      // Gathering a batch is pointless when a batch is one message.
      ...(batchSize > 1 ? { maxBatchingWindow: Duration.seconds(1) } : {}),
      reportBatchItemFailures: true,
    });
    fn.addEventSource(eventSource);
    consumers.push({ agentId: agent.id, eventSource });
    fn.addToRolePolicy(tableAccess("GetItem", "PutItem", "UpdateItem", "Query"));
    // Delayed retries go back on its own queue; exhausted tasks go to its own DLQ.
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ["sqs:SendMessage"], resources: [queue.queueArn, dlq.queueArn] }),
    );
    // Its health action counts its DLQ's messages (they degrade the agent) before recording a status change.
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ["sqs:GetQueueAttributes"], resources: [dlq.queueArn] }));
    // A plan step's task reports its outcome (and each attempt's start) through the step's task token.
    fn.addToRolePolicy(taskResults("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"));
    for (const statement of own.statements ?? []) fn.addToRolePolicy(statement);
    if (own.roleSuppressions?.length) {
      NagSuppressions.addResourceSuppressions(fn.role ?? fn, [...own.roleSuppressions], true);
    }
    return fn;
  });

  // ── Bootstrap admin key ──────────────────────────────────────────────────────────────────────────
  // A generated value that never appears in the template, the outputs or any function environment:
  // the API function gets the secret's ARN and reads the value at runtime.
  const adminKeySecret = new secretsmanager.Secret(stack, "AdminKeySecret", {
    secretName: `${app.name}/${app.stage}/admin-key`,
    description: `Bootstrap admin API key of ${app.name} (${app.stage}). Send it as "Authorization: Bearer <value>". Rotate by putting a new value (aws secretsmanager put-secret-value); the API re-reads it within 5 minutes.`,
    generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
    removalPolicy: ephemeral ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
  });
  NagSuppressions.addResourceSuppressions(adminKeySecret, [
    {
      id: "AwsSolutions-SMG4",
      reason:
        "Rotation is manual by design: an operator puts a new value and the API re-reads it within 5 minutes (cached Powertools SecretsProvider, maxAge 300 s). An automatic rotation Lambda would invalidate the key operators hold without telling them. Every other API key is created through the API and stored hashed in DynamoDB.",
    },
  ]);

  // ── API ──────────────────────────────────────────────────────────────────────────────────────────
  const agentsApiEnv: Record<string, string> = {};
  for (const { environment } of forApi) {
    for (const [name, value] of Object.entries(environment ?? {})) {
      if (name in agentsApiEnv) throw new Error(`Two built-in agents give the API function ${name}`);
      agentsApiEnv[name] = value;
    }
  }
  const apiFunction = nexusFunction(stack, "ApiFunction", {
    handler: "functions/api.handler",
    memorySize: 512,
    timeout: 29,
    environment: {
      ...agentsApiEnv,
      NEXUS_ADMIN_KEY_SECRET: adminKeySecret.secretArn,
      NEXUS_BUILTIN_CONSUMERS: stack.toJsonString(
        Object.fromEntries(consumers.map(({ agentId, eventSource }) => [agentId, eventSource.eventSourceMappingId])),
      ),
      NEXUS_STATE_MACHINE_ARN: stateMachineArn,
      // Read at synth time from the deploying shell; absent unless set.
      ...apiSettingsEnv(process.env),
    },
  });
  // Not `grantRead`: that also adds secretsmanager:DescribeSecret, which the API does not call (Powertools'
  // SecretsProvider only calls GetSecretValue). The secret uses the AWS managed key, so no kms:Decrypt grant.
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [adminKeySecret.secretArn] }),
  );
  // BatchWriteItem: a submitted task with its audit record, a new plan with its steps; BatchGetItem: a plan's tasks;
  // DeleteItem: a deleted custom agent's record and its name guard (its tasks stay).
  apiFunction.addToRolePolicy(
    tableAccess("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchWriteItem", "BatchGetItem"),
  );
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["sqs:SendMessage", "sqs:GetQueueAttributes"], resources: builtinQueueArns }),
  );
  // An agent's health shows its DLQ's depth too (custom agents' DLQs: the prefix statement below).
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["sqs:GetQueueAttributes"], resources: agents.map(({ dlq }) => dlq.queueArn) }),
  );
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: [
        "sqs:CreateQueue",
        "sqs:GetQueueUrl",
        "sqs:GetQueueAttributes",
        "sqs:SetQueueAttributes",
        "sqs:TagQueue",
        "sqs:SendMessage",
      ],
      resources: [customQueueArns],
    }),
  );
  // Deleting a custom agent deletes its queues.
  apiFunction.addToRolePolicy(new iam.PolicyStatement({ actions: ["sqs:DeleteQueue"], resources: [customQueueArns] }));
  // Remote workers of custom agents claim tasks through the API: it receives from their queue and deletes what it
  // claimed (built-in queues are refused in code and denied below).
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage"], resources: [customQueueArns] }),
  );
  // The prefix pattern above also matches the built-in queues: keep their CloudFormation-owned settings safe.
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({
      effect: iam.Effect.DENY,
      actions: [
        "sqs:CreateQueue",
        "sqs:SetQueueAttributes",
        "sqs:TagQueue",
        "sqs:DeleteQueue",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
      ],
      resources: builtinQueueAndDlqArns,
    }),
  );
  // Deactivating a built-in agent turns its consumer (event source mapping) off; reactivating, on.
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ["lambda:UpdateEventSourceMapping"],
      resources: consumers.map(({ eventSource }) => eventSource.eventSourceMappingArn),
    }),
  );
  // Plans: the API starts a plan's run and stops it (cancel, or a run superseded); approve/reject release an approval
  // gate, and cancelling a plan step's task fails that step.
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["states:StartExecution"], resources: [stateMachineArn] }),
  );
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ["states:StopExecution", "states:DescribeExecution"],
      resources: [executionArns],
    }),
  );
  // A remote worker's task reports like an agent function's: its outcome, and a heartbeat when its lease is extended.
  apiFunction.addToRolePolicy(taskResults("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"));
  for (const { statements } of forApi) for (const statement of statements ?? []) apiFunction.addToRolePolicy(statement);
  NagSuppressions.addResourceSuppressions(
    apiFunction.role ?? apiFunction,
    [
      customQueueSuppression,
      executionsSuppression("the API may stop and describe"),
      ...forApi.flatMap(({ roleSuppressions }) => roleSuppressions ?? []),
    ],
    true,
  );

  const api = new Api(stack, "Api", {
    routes: { $default: { function: apiFunction } },
    accessLog: { retention: "one_month", format: ACCESS_LOG_FORMAT },
    defaults: { throttle: { burst: 100, rate: 50 } },
  });
  NagSuppressions.addResourceSuppressions(
    api,
    [
      {
        id: "AwsSolutions-APIG4",
        reason:
          "The single $default route proxies to the Hono app, which authenticates every request itself (API keys stored hashed in DynamoDB, bootstrap admin key in Secrets Manager) and serves its public routes (health, OpenAPI document) without a key.",
      },
    ],
    true,
  );

  // ── Sweeper ──────────────────────────────────────────────────────────────────────────────────────
  // Also looks at every agent: records health changes, emits its metrics (EMF in its log, namespace below) and turns
  // a built-in agent's event source mapping back to match the agent's status.
  const sweeperFunction = nexusFunction(stack, "SweeperFunction", {
    handler: "functions/sweeper.handler",
    timeout: 120,
    environment: {
      POWERTOOLS_METRICS_NAMESPACE: metricsNamespace(app.name, app.stage),
      NEXUS_BUILTIN_CONSUMERS: stack.toJsonString(
        Object.fromEntries(consumers.map(({ agentId, eventSource }) => [agentId, eventSource.eventSourceMappingId])),
      ),
      NEXUS_STATE_MACHINE_ARN: stateMachineArn,
    },
  });
  sweeperFunction.addToRolePolicy(tableAccess("Query", "GetItem", "UpdateItem", "PutItem"));
  sweeperFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["sqs:SendMessage"], resources: [...builtinQueueArns, customQueueArns] }),
  );
  // Queue and DLQ depths of every agent, built-in (named) or custom (by the prefix).
  sweeperFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ["sqs:GetQueueAttributes"],
      resources: [...builtinQueueAndDlqArns, customQueueArns],
    }),
  );
  // Reconciling: reads each built-in agent's event source mapping and switches it back when it disagrees with the
  // agent's status (as the API switches it on deactivate/reactivate); exactly those mappings.
  sweeperFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"],
      resources: consumers.map(({ eventSource }) => eventSource.eventSourceMappingArn),
    }),
  );
  // A task whose last worker vanished is failed by the sweeper; a plan step waiting on it must hear of it.
  sweeperFunction.addToRolePolicy(taskResults("SendTaskFailure"));
  // Plans: a run whose execution ended without settling the plan (aborted, timed out, failed outside the runner) is
  // settled from DescribeExecution; a plan stored but never started (its API call died in between) is started.
  sweeperFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["states:StartExecution"], resources: [stateMachineArn] }),
  );
  sweeperFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["states:DescribeExecution"], resources: [executionArns] }),
  );
  NagSuppressions.addResourceSuppressions(
    sweeperFunction.role ?? sweeperFunction,
    [customQueueSuppression, executionsSuppression("the sweeper may describe")],
    true,
  );
  const sweeper = new Cron(stack, "Sweeper", { schedule: "rate(5 minutes)", job: sweeperFunction });

  // ── Failures inbox ──────────────────────────────────────────────────────────────────────────────
  // Moves what waits in every agent's DLQ (built-in by name, custom by the prefix) into the failures inbox.
  const failuresFunction = nexusFunction(stack, "FailuresFunction", {
    handler: "functions/failures.handler",
    timeout: 120,
  });
  failuresFunction.addToRolePolicy(tableAccess("GetItem", "PutItem", "UpdateItem", "Query"));
  const customDlqArns = stack.formatArn({ service: "sqs", resource: `${prefix}*-dlq` });
  failuresFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
      resources: [...agents.map(({ dlq }) => dlq.queueArn), customDlqArns],
    }),
  );
  NagSuppressions.addResourceSuppressions(
    failuresFunction.role ?? failuresFunction,
    [
      {
        id: "AwsSolutions-IAM5",
        reason: `Custom agents' DLQs are created at runtime, named "${prefix}<agentId>-dlq"; the ingester reads and deletes messages of those DLQs only.`,
        appliesTo: [{ regex: `/^Resource::arn:<AWS::Partition>:sqs:[^:]+:[^:]+:${escapeRegex(prefix)}\\*-dlq$/` }],
      },
    ],
    true,
  );
  const failureIngestion = new Cron(stack, "FailureIngestion", { schedule: "rate(5 minutes)", job: failuresFunction });

  // ── Probe ────────────────────────────────────────────────────────────────────────────────────────
  // Every probe interval, a health task to each active built-in agent (one per agent and interval slot); the agent
  // checks what it depends on and records its heartbeat. Its own function and role: it registers the built-in agents
  // if the API has not yet, and submits tasks to their queues, nothing else.
  const probeFunction = nexusFunction(stack, "ProbeFunction", {
    handler: "functions/probe.handler",
    timeout: 60,
  });
  probeFunction.addToRolePolicy(tableAccess("GetItem", "PutItem", "UpdateItem", "Query"));
  probeFunction.addToRolePolicy(new iam.PolicyStatement({ actions: ["sqs:SendMessage"], resources: builtinQueueArns }));
  const probeMinutes = health.probeIntervalMinutes;
  const probe = new Cron(stack, "Probe", {
    schedule: `rate(${probeMinutes} ${probeMinutes === 1 ? "minute" : "minutes"})`,
    job: probeFunction,
  });

  // ── Plans ────────────────────────────────────────────────────────────────────────────────────────
  // The runner is the state machine's only Lambda task: it starts a run, waits for a step's dependencies, dispatches a
  // step as a task on its agent's queue, holds an approval gate, and records each step's and the run's outcome.
  const planRunnerFunction = nexusFunction(stack, "PlanRunnerFunction", {
    handler: "functions/plans.handler",
    memorySize: 512,
    timeout: 30,
    environment: { NEXUS_STATE_MACHINE_ARN: stateMachineArn },
  });
  // BatchGetItem: the tasks of a step's dependencies, whose results its params refer to.
  planRunnerFunction.addToRolePolicy(tableAccess("GetItem", "PutItem", "UpdateItem", "Query", "BatchGetItem"));
  // A dispatched step is a task on a built-in or custom agent's queue.
  planRunnerFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["sqs:SendMessage"], resources: [...builtinQueueArns, customQueueArns] }),
  );
  // Releases steps whose dependencies are done; fails steps it cannot dispatch.
  planRunnerFunction.addToRolePolicy(taskResults("SendTaskSuccess", "SendTaskFailure"));
  NagSuppressions.addResourceSuppressions(
    planRunnerFunction.role ?? planRunnerFunction,
    [customQueueSuppression],
    true,
  );

  // Every execution event, with its data (ids only: steps, params and results live in the table), kept a month.
  // Under /aws/vendedlogs/ so that Step Functions' log delivery does not grow the account's CloudWatch Logs resource
  // policy with each log group.
  const planLogs = new logs.LogGroup(stack, "PlanStateMachineLogs", {
    logGroupName: `/aws/vendedlogs/states/${stateMachineName}`,
    retention: LOG_RETENTION,
    removalPolicy: ephemeral ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
  });
  const stateMachine = new sfn.StateMachine(stack, "PlanStateMachine", {
    stateMachineName,
    stateMachineType: sfn.StateMachineType.STANDARD,
    definitionBody: sfn.DefinitionBody.fromString(planDefinitionBody(useProject().paths.root)),
    definitionSubstitutions: { [PLAN_RUNNER_PLACEHOLDER]: planRunnerFunction.functionArn },
    logs: { destination: planLogs, level: sfn.LogLevel.ALL, includeExecutionData: true },
    tracingEnabled: true,
    // It holds no data of its own (plans, steps and results are in the table; its logs are retained above), and it
    // goes with the runner its definition names.
    removalPolicy: RemovalPolicy.DESTROY,
  });
  // Its role may invoke the runner (any version or alias of it) and nothing else.
  planRunnerFunction.grantInvoke(stateMachine);
  NagSuppressions.addResourceSuppressions(
    stateMachine.role,
    [
      {
        id: "AwsSolutions-IAM5",
        reason:
          'Step Functions\' log delivery (logs:CreateLogDelivery and the other *LogDelivery, *ResourcePolicies and DescribeLogGroups actions CDK adds for the log group destination) and X-Ray tracing (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) support no resource-level permissions (Resource "*").',
        appliesTo: ["Resource::*"],
      },
      {
        id: "AwsSolutions-IAM5",
        reason:
          "lambda:InvokeFunction on the plan runner's versions and aliases (<runner ARN>:*), as CDK's grantInvoke grants it: the state machine invokes the runner and no other function.",
        appliesTo: [{ regex: "/^Resource::<PlanRunnerFunction[0-9A-F]{8}\\.Arn>:\\*$/" }],
      },
    ],
    true,
  );
  // A failed plan run, whatever failed it (a step, a timeout, the runner). No alarm action: the stack has no
  // notification topic yet; the alarm shows in the console and can be wired to one.
  const planFailuresAlarm = new cloudwatch.Alarm(stack, "PlanExecutionsFailedAlarm", {
    alarmDescription: `A run of a plan failed (${stateMachineName}: ExecutionsFailed >= 1 in 5 minutes).`,
    metric: stateMachine.metricFailed({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });

  // ── Schedules ────────────────────────────────────────────────────────────────────────────────────
  // Each Nexus schedule is an EventBridge Scheduler schedule in this group, created, changed and deleted by the API
  // (packages/core/src/schedules/triggers.ts). It invokes the schedule function with {scheduleId, scheduledAt}, through
  // a role that may invoke that function only. Deliveries that fail after the scheduler's retries, and invocations the
  // function fails after Lambda's asynchronous retries, land in one dead-letter queue. The function, the role and the
  // queue are named after the group (packages/core/src/schedules/names.ts): the API is told the group's ARN only.
  const schedulesGroup = scheduleGroupName(app.name, app.stage);
  const scheduleGroup = new scheduler.CfnScheduleGroup(stack, "ScheduleGroup", { name: schedulesGroup });
  const scheduleGroupArn = stack.formatArn({
    service: "scheduler",
    resource: "schedule-group",
    resourceName: schedulesGroup,
  });
  const groupSchedulesArn = stack.formatArn({
    service: "scheduler",
    resource: "schedule",
    resourceName: `${schedulesGroup}/*`,
  });
  const scheduleDlq = new sqs.Queue(stack, "ScheduleDlq", {
    queueName: scheduleDlqName(schedulesGroup),
    retentionPeriod: Duration.days(14),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  });
  NagSuppressions.addResourceSuppressions(scheduleDlq, [
    {
      id: "AwsSolutions-SQS3",
      reason:
        "This queue is itself a dead-letter queue: of the EventBridge Scheduler schedules' failed deliveries and of the schedule function's failed asynchronous invocations.",
    },
  ]);
  const { NEXUS_DAILY_CAPS: dailyCaps } = apiSettingsEnv(process.env);
  const scheduleFunction = nexusFunction(stack, "ScheduleFunction", {
    handler: "functions/schedule.handler",
    functionName: scheduleFunctionName(schedulesGroup),
    memorySize: 512,
    timeout: 30,
    // Lambda retries a failed invocation twice (a run is idempotent per schedule and time), then dead-letters it.
    retryAttempts: 2,
    deadLetterQueue: scheduleDlq,
    environment: {
      NEXUS_STATE_MACHINE_ARN: stateMachineArn,
      // A task run spends the same daily caps as a task submitted through the API.
      ...(dailyCaps ? { NEXUS_DAILY_CAPS: dailyCaps } : {}),
    },
  });
  // BatchWriteItem: a plan run's plan and steps (packages/core/src/plans/store.ts).
  scheduleFunction.addToRolePolicy(tableAccess("GetItem", "PutItem", "UpdateItem", "Query", "BatchWriteItem"));
  // A task run is a task on a built-in or custom agent's queue; a plan run starts an execution.
  scheduleFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["sqs:SendMessage"], resources: [...builtinQueueArns, customQueueArns] }),
  );
  scheduleFunction.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["states:StartExecution"], resources: [stateMachineArn] }),
  );
  NagSuppressions.addResourceSuppressions(scheduleFunction.role ?? scheduleFunction, [customQueueSuppression], true);
  // Assumed by EventBridge Scheduler for this group's schedules only (confused deputy: source account and group).
  const schedulerRole = new iam.Role(stack, "SchedulerRole", {
    roleName: schedulerRoleName(schedulesGroup),
    assumedBy: new iam.ServicePrincipal("scheduler.amazonaws.com", {
      conditions: {
        StringEquals: { "aws:SourceAccount": stack.account },
        ArnEquals: { "aws:SourceArn": scheduleGroupArn },
      },
    }),
    description: `EventBridge Scheduler's role for the ${schedulesGroup} schedules: invokes the schedule function`,
  });
  schedulerRole.addToPolicy(
    new iam.PolicyStatement({ actions: ["lambda:InvokeFunction"], resources: [scheduleFunction.functionArn] }),
  );
  schedulerRole.addToPolicy(
    new iam.PolicyStatement({ actions: ["sqs:SendMessage"], resources: [scheduleDlq.queueArn] }),
  );
  // The API keeps the group's schedules in step with the records, passing the scheduler exactly its role.
  apiFunction.addEnvironment("NEXUS_SCHEDULE_GROUP_ARN", scheduleGroupArn);
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: [
        "scheduler:CreateSchedule",
        "scheduler:UpdateSchedule",
        "scheduler:DeleteSchedule",
        "scheduler:GetSchedule",
      ],
      resources: [groupSchedulesArn],
    }),
  );
  apiFunction.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ["iam:PassRole"],
      resources: [schedulerRole.roleArn],
      conditions: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
    }),
  );
  NagSuppressions.addResourceSuppressions(
    apiFunction.role ?? apiFunction,
    [
      {
        id: "AwsSolutions-IAM5",
        reason: `Schedules are created at runtime, one per Nexus schedule, named by its id: the API may create, update, delete and read the schedules of the ${schedulesGroup} group only.`,
        appliesTo: [
          {
            regex: `/^Resource::arn:<AWS::Partition>:scheduler:[^:]+:[^:]+:schedule\\/${escapeRegex(schedulesGroup)}\\/\\*$/`,
          },
        ],
      },
    ],
    true,
  );
  stack.addOutputs({ ScheduleGroupName: scheduleGroup.ref, ScheduleDlqUrl: scheduleDlq.queueUrl });

  // ── SST's per-stack custom resource handler (used for sourcemap upload on deploy) ───────────────
  // SST pins it to nodejs22.x; run it on the same (newest) runtime as everything else. Its role is
  // created by SST with the AWSLambdaBasicExecutionRole managed policy.
  const customResourceHandler = stack.customResourceHandler;
  (customResourceHandler.node.defaultChild as lambda.CfnFunction).runtime = lambda.Runtime.NODEJS_24_X.name;
  NagSuppressions.addResourceSuppressions(
    customResourceHandler,
    [
      {
        id: "AwsSolutions-IAM4",
        reason:
          "SST's internal custom resource handler role is created by SST; AWSLambdaBasicExecutionRole only lets it write its own CloudWatch logs.",
        appliesTo: ["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
      },
    ],
    true,
  );

  stack.addOutputs({
    ApiUrl: api.url,
    TableName: table.tableName,
    // The ARN, not the value: `aws secretsmanager get-secret-value --secret-id <AdminKeySecretArn>`.
    AdminKeySecretArn: adminKeySecret.secretArn,
    // Where operators put provider credentials (aws secretsmanager put-secret-value --secret-id <arn>).
    ...providerSecretArns,
    PlanStateMachineArn: stateMachine.stateMachineArn,
    ...Object.fromEntries(
      agents.flatMap(({ cid, queue, dlq }) => [
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
    agentFunctions,
    agents,
    planRunnerFunction,
    stateMachine,
    planFailuresAlarm,
    scheduleFunction,
    schedulerRole,
    scheduleDlq,
  };
}
