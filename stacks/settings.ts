/**
 * Names and settings of the stack: how resources are named from the app and the stage, and the settings read from the
 * deploying shell at synth time, checked here so that a bad value fails the deploy rather than every cold start.
 * Plain functions, no constructs.
 */
import type { ApiCorsProps } from "sst/constructs";
import type * as z from "zod";
import { EMAIL_ADDRESS, SENDER_FORMAT, splitSender } from "../packages/agents/src/comms/sender.js";
import { CORS } from "../packages/api/src/cors.js";
import { type AlarmSettings, parseAlarmSettings } from "../packages/core/src/alarms.js";
import { HealthSettings } from "../packages/core/src/schemas.js";
import { SettingsEnv } from "../packages/core/src/settings-env.js";

// ── Names ──────────────────────────────────────────────────────────────────────────────────────────

/** Stages whose data may be thrown away with the stack. Every other stage retains the table. */
export function isEphemeralStage(stage: string): boolean {
  return ["dev", "local", "test"].some((prefix) => stage.startsWith(prefix));
}

/**
 * Longest queue name prefix the stack accepts: app and stage names of 40 characters together. Every function's
 * environment lists each built-in agent's queue and DLQ by URL and ARN, which grow with the prefix; within this bound
 * the largest environment (the API's) stays under Lambda's 4 KB in any region (tests/stacks/nexus.test.ts checks it).
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

/** A string as a literal part of a regular expression (cdk-nag `appliesTo` patterns). */
export const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** `comms-agent` → `CommsAgent`: construct ids from ids and names. */
export const pascal = (s: string) =>
  s
    .split(/[^a-zA-Z0-9]+/)
    .filter(Boolean)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join("");

// ── Settings from the deploying shell ──────────────────────────────────────────────────────────────

/**
 * Runtime settings from the deploying shell, checked with the schema the functions read them with
 * (packages/core/src/settings-env.ts), so that a value they would refuse fails the deploy instead of every cold start.
 * Malformed → the synth fails, naming the variable and what is wrong.
 */
function runtimeSettings(env: NodeJS.ProcessEnv, names: ReadonlyArray<keyof SettingsEnv>): SettingsEnv {
  const parsed = SettingsEnv.safeParse(Object.fromEntries(names.map((name) => [name, env[name]])));
  if (!parsed.success) {
    const [issue] = parsed.error.issues as [z.core.$ZodIssue];
    const [name = "", ...path] = issue.path.map(String);
    const field = path.length > 0 ? `${path.join(".")}: ` : "";
    throw new Error(`${name} is not valid (${field}${issue.message}), got ${JSON.stringify(env[name])}`);
  }
  return parsed.data;
}

/**
 * Optional API settings passed through from the deploying shell (`NEXUS_RATE_LIMIT_PER_MINUTE`, `NEXUS_DAILY_CAPS`).
 * Unset or empty → absent (the API's defaults apply).
 */
export function apiSettingsEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const settings = runtimeSettings(env, ["NEXUS_RATE_LIMIT_PER_MINUTE", "NEXUS_DAILY_CAPS"]);
  const out: Record<string, string> = {};
  if (settings.NEXUS_RATE_LIMIT_PER_MINUTE !== undefined) {
    out.NEXUS_RATE_LIMIT_PER_MINUTE = String(settings.NEXUS_RATE_LIMIT_PER_MINUTE);
  }
  if (settings.NEXUS_DAILY_CAPS !== undefined) out.NEXUS_DAILY_CAPS = JSON.stringify(settings.NEXUS_DAILY_CAPS);
  return out;
}

/**
 * CORS of the HTTP API from the deploying shell: `NEXUS_CORS_ORIGINS`, comma-separated exact origins (checked with the
 * schema the local runtime reads it with). Unset → `false`: API Gateway answers no preflight and grants no origin
 * (SST's default would allow every origin). Set → API Gateway answers preflights and adds the CORS headers for those
 * origins, with the methods and headers the local API allows (packages/api/src/cors.ts), without credentials. The
 * API function itself gets no variable: its environment is full.
 */
export function apiCors(env: NodeJS.ProcessEnv): false | ApiCorsProps {
  const { NEXUS_CORS_ORIGINS: origins } = runtimeSettings(env, ["NEXUS_CORS_ORIGINS"]);
  if (!origins || origins.length === 0) return false;
  return {
    allowOrigins: origins,
    allowMethods: [...CORS.allowMethods],
    allowHeaders: [...CORS.allowHeaders],
    exposeHeaders: [...CORS.exposeHeaders],
    maxAge: `${CORS.maxAgeSeconds} seconds`,
    allowCredentials: false,
  };
}

/**
 * The API function's reserved concurrency from the deploying shell: `NEXUS_API_RESERVED_CONCURRENCY`, a whole number
 * from 1 to 1,000. Unset or empty → none (off): API Gateway's throttle (50 requests a second, bursts of 100) already
 * bounds what the API sends downstream, the agents are capped by their own maximum concurrency, and Lambda refuses a
 * reservation that leaves the account fewer than 100 unreserved executions, so a default would fail the first deploy
 * in any account still at a low concurrency quota. Set it to guarantee the API that many executions (and cap it there).
 */
export function apiReservedConcurrency(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.NEXUS_API_RESERVED_CONCURRENCY?.trim();
  if (!raw) return undefined;
  const value = /^[1-9][0-9]{0,3}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(value <= 1000)) {
    throw new Error(`NEXUS_API_RESERVED_CONCURRENCY must be a whole number from 1 to 1000, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** How long AWS Backup keeps each daily backup of the table unless `NEXUS_BACKUP_RETENTION_DAYS` says otherwise. */
export const DEFAULT_BACKUP_RETENTION_DAYS = 35;

/**
 * Days each daily backup of the table is kept: `NEXUS_BACKUP_RETENTION_DAYS` from the deploying shell, a whole number
 * from 1 to 36,500 (AWS Backup's range). Unset or empty → {@link DEFAULT_BACKUP_RETENTION_DAYS}, as long as
 * point-in-time recovery reaches back.
 */
export function backupRetentionDays(env: NodeJS.ProcessEnv): number {
  const raw = env.NEXUS_BACKUP_RETENTION_DAYS?.trim();
  if (!raw) return DEFAULT_BACKUP_RETENTION_DAYS;
  const value = /^[1-9][0-9]{0,4}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(value <= 36_500)) {
    throw new Error(
      `NEXUS_BACKUP_RETENTION_DAYS must be a whole number of days from 1 to 36500, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/**
 * Agent health settings from the deploying shell: `NEXUS_HEALTH`, JSON with any of `onlineIntervals`, `offlineIntervals`,
 * `errorRate`, `minSamples` and `probeIntervalSeconds` (`HealthSettings`, packages/core/src/schemas.ts). Unset or empty
 * → no variable, the defaults apply. Malformed, or a probe interval that is not whole minutes (the probe schedule's
 * rate) → the synth fails. Returns the variable for every function and the probe interval the probe schedule runs at.
 */
export function healthSettingsEnv(env: NodeJS.ProcessEnv): {
  environment: Record<string, string>;
  probeIntervalMinutes: number;
} {
  const { NEXUS_HEALTH: set } = runtimeSettings(env, ["NEXUS_HEALTH"]);
  const { probeIntervalSeconds } = set ?? HealthSettings.parse({});
  if (probeIntervalSeconds % 60 !== 0) {
    throw new Error(
      `NEXUS_HEALTH.probeIntervalSeconds must be whole minutes (the probe's rate), got ${probeIntervalSeconds}`,
    );
  }
  return {
    environment: set ? { NEXUS_HEALTH: JSON.stringify(set) } : {},
    probeIntervalMinutes: probeIntervalSeconds / 60,
  };
}

/**
 * The comms agent's settings from the deploying shell: `NEXUS_EMAIL_FROM`, the sender of every email (an SES-verified
 * identity, `name@example.com` or `Display Name <name@example.com>`), and `NEXUS_SES_REGION` when SES is used in
 * another region. Unset or empty → absent: email actions then fail with `not_configured`, and the role gets no
 * SES permission. Malformed → the synth fails ({@link senderAddress}).
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

/**
 * The address of a `NEXUS_EMAIL_FROM` value without its display name: what SES's `ses:FromAddress` key compares. Parsed
 * as the comms agent parses it (packages/agents/src/comms/sender.ts): a value it would refuse fails the synth.
 */
export function senderAddress(from: string): string {
  const sender = splitSender(from);
  if (!sender) throw new Error(`NEXUS_EMAIL_FROM must be ${SENDER_FORMAT}, got ${JSON.stringify(from)}`);
  return sender.address;
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

/**
 * Alarm settings from the deploying shell: `NEXUS_ALARMS`, JSON with any of the thresholds of `AlarmSettings`
 * (packages/core/src/alarms.ts); `NEXUS_ALARM_EMAIL`, the address the alarm topic emails (it must confirm the
 * subscription); `NEXUS_ALARM_CHAT`, a channel of the comms agent's chat secret the alarms are posted to. Unset → the
 * defaults, no email, no chat. Malformed → the synth fails.
 */
export function alarmSettingsEnv(env: NodeJS.ProcessEnv): {
  settings: AlarmSettings;
  email?: string;
  chatChannel?: string;
} {
  const settings = parseAlarmSettings(env.NEXUS_ALARMS);
  const email = env.NEXUS_ALARM_EMAIL?.trim();
  if (email && !EMAIL_ADDRESS.test(email)) {
    throw new Error(`NEXUS_ALARM_EMAIL must be an email address, got ${JSON.stringify(email)}`);
  }
  // A channel name as the comms agent's chat secret has them (packages/agents/src/comms/spec.ts: CHANNEL).
  const chatChannel = env.NEXUS_ALARM_CHAT?.trim();
  if (chatChannel && !/^[a-z0-9][a-z0-9_-]{0,63}$/.test(chatChannel)) {
    throw new Error(`NEXUS_ALARM_CHAT must be a channel name of the chat secret, got ${JSON.stringify(chatChannel)}`);
  }
  return { settings, ...(email ? { email } : {}), ...(chatChannel ? { chatChannel } : {}) };
}
