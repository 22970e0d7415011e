/**
 * The built-in agents' own resources: what each agent's `provision` (stacks/agents.ts, BUILTIN_AGENTS) creates and
 * grants, for its function alone (and, for the planner, the API's too).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { Stack as CdkStack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import type { NagPackSuppression } from "cdk-nag";
import type { AgentResources, AgentScope } from "./agents.js";
import { privateBucket } from "./buckets.js";
import { readSecrets } from "./functions.js";
import { commsSettingsEnv, escapeRegex, opsSettingsEnv, plannerSettingsEnv, senderAddress } from "./settings.js";

/** comms: SES email from the configured sender; Twilio credentials and chat webhooks from its own secrets. */
export function commsResources({ stack, env, providerSecret }: AgentScope): AgentResources {
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
export function opsResources({ env }: AgentScope): AgentResources {
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
export function researchResources({ stack, ephemeral, id, providerSecret }: AgentScope): AgentResources {
  const chromium = new lambda.LayerVersion(stack, id("ChromiumLayer"), {
    code: lambda.Code.fromAsset(chromiumBinDir()),
    compatibleArchitectures: [lambda.Architecture.X86_64],
    description: "@sparticuz/chromium binaries (x86_64), unpacked by the research agent from /opt",
    license: "MIT",
  });
  // Set on the L1 resource: CDK checks a layer's runtimes against the function's when it is attached, and SST builds
  // functions on a nodejs22.x placeholder until their code is bundled (then sets nodejs24.x, the app's runtime).
  (chromium.node.defaultChild as lambda.CfnLayerVersion).compatibleRuntimes = [lambda.Runtime.NODEJS_24_X.name];
  const artifacts = privateBucket(stack, id("Artifacts"), {
    ephemeral,
    expirationDays: ARTIFACT_RETENTION_DAYS,
    holds:
      "Holds only render_page screenshots, written by the research role and expired after 7 days; they are read through presigned URLs.",
  });
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

/** Geography prefixes of Bedrock's system-defined cross-Region inference profiles (`us.anthropic.…`). */
const INFERENCE_PROFILE_PREFIX = /^(us|us-gov|eu|apac|jp|au|ca|global)\./;

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
export function strategyResources({ stack, env, providerSecret }: AgentScope): AgentResources {
  const secret = providerSecret(
    "planner",
    'API key of the planner\'s OpenAI-compatible LLM provider (NEXUS_PLANNER_PROVIDER=openai): {"apiKey":"..."}. Unused with Bedrock or without an LLM.',
  );
  // The API plans `POST /v1/plans` goals itself: the same settings and grants, as statements of its own role.
  return { ...plannerAccess(stack, env, secret), api: plannerAccess(stack, env, secret) };
}
