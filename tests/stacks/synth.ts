/**
 * The one synthesis the stack tests share: each test file calls {@link synthesizeApp} once, which synthesizes the real
 * app (sst.config.ts → stacks/Nexus.ts) in-process, offline, before its tests, and checks nothing itself. The
 * helpers below read the template it leaves in {@link resources} (and {@link template}, {@link outputs},
 * {@link messages}).
 *
 * SST's `finish()` bundles every function handler with esbuild (as `sst deploy` does) and SST writes build
 * output under `<root>/.sst`; both are redirected to a temp dir here. `initProject` still creates an empty
 * `<root>/.sst/` and briefly writes `<root>/.sst.config.<timestamp>.mjs` while loading the config.
 * The cloud assembly (with the research agent's Chromium layer asset, ~66 MB) goes to the temp dir too, which is
 * deleted afterwards.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Template } from "aws-cdk-lib/assertions";
import type { SynthesisMessage } from "aws-cdk-lib/cx-api";
import { App, getStack } from "sst/constructs";
import { initProject, setProject, useProject } from "sst/project.js";
import { afterAll, beforeAll, expect } from "vitest";
import config from "../../sst.config.js";
import { BUILTIN_AGENTS, builtinScaling } from "../../stacks/agents.js";
import { Nexus } from "../../stacks/Nexus.js";
import { planStateMachineName, queuePrefix, scheduleGroupName } from "../../stacks/settings.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
// A non-ephemeral stage, so the template is the production shape (retained, deletion-protected table).
export const STAGE = "prod";
export const REGION = "us-east-1";
export const ACCOUNT = "123456789012";
export const APP_NAME = "nexus";
export const PREFIX = queuePrefix(APP_NAME, STAGE);
export const STATE_MACHINE_NAME = planStateMachineName(APP_NAME, STAGE);
/** The plan state machine's ARN as the stack formats it (rendered): functions name it, not a reference to it. */
export const STATE_MACHINE_ARN = `arn:\${AWS::Partition}:states:${REGION}:${ACCOUNT}:stateMachine:${STATE_MACHINE_NAME}`;
export const EXECUTION_ARNS = `arn:\${AWS::Partition}:states:${REGION}:${ACCOUNT}:execution:${STATE_MACHINE_NAME}:*`;
/** The Bedrock model the planner is configured with while synthesizing here (a model id, not an inference profile). */
export const PLANNER_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0";
/** Bundling eight functions (four of them with puppeteer-core) takes ~30 s here, more on a busy machine. */
export const SYNTH_TIMEOUT_MS = 180_000;
/** Optional API settings the stack reads from the deploying shell; unset while synthesizing here. */
export const SETTINGS_ENV = [
  "NEXUS_RATE_LIMIT_PER_MINUTE",
  "NEXUS_DAILY_CAPS",
  "NEXUS_HEALTH",
  "NEXUS_CORS_ORIGINS",
  "NEXUS_BACKUP_RETENTION_DAYS",
] as const;
/** Agent settings the stack reads from the deploying shell: set (or, when undefined, unset) while synthesizing here. */
export const AGENT_SETTINGS = {
  NEXUS_EMAIL_FROM: "Nexus Alerts <alerts@example.com>",
  NEXUS_SES_REGION: undefined,
  NEXUS_HTTP_ALLOW: "status.example.com, 10.0.0.5:8080",
  NEXUS_PLANNER_PROVIDER: "bedrock",
  NEXUS_PLANNER_MODEL: PLANNER_MODEL,
  NEXUS_PLANNER_URL: undefined,
} as const;
export const SENDER_ADDRESS = "alerts@example.com";
/** Alarm settings the stack reads from the deploying shell: two thresholds overridden (one more for research alone). */
export const ALARM_SETTINGS = {
  NEXUS_ALARMS: JSON.stringify({
    queueAgeMinutes: 30,
    functionErrors: 3,
    agents: { research: { queueAgeMinutes: 60 } },
  }),
  NEXUS_ALARM_EMAIL: "oncall@example.com",
  NEXUS_ALARM_CHAT: "ops",
};

/**
 * Scaling settings the stack reads from the deploying shell, set while synthesizing here: the ops agent's every field
 * differs from its defaults (the others keep theirs), and the API gets a reserved concurrency.
 */
export const SCALING_SETTINGS = {
  NEXUS_AGENT_SCALING: JSON.stringify({
    ops: { maxConcurrency: 20, batchSize: 25, batchingWindowSeconds: 2, memorySize: 1024, timeoutSeconds: 90 },
  }),
  NEXUS_API_RESERVED_CONCURRENCY: "25",
} as const;
/** What the research agent reads for the SSRF guard's exceptions: never set in AWS. */
export const SSRF_ALLOW = "NEXUS_SSRF_ALLOW";
/** The schedule group of the app and stage. */
export const SCHEDULE_GROUP = scheduleGroupName(APP_NAME, STAGE);

// ── CloudFormation JSON helpers ──────────────────────────────────────────────────────────────────────
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };
export interface CfnResource {
  Type: string;
  Properties?: JsonObject;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  Metadata?: JsonObject;
}
export interface Statement {
  Effect: "Allow" | "Deny";
  Action: string[];
  Resource: Json[];
  Condition?: Json;
}

export const isObject = (v: Json | undefined): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);
export const asArray = (v: Json | undefined): Json[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
export const obj = (v: Json | undefined, what: string): JsonObject => {
  if (!isObject(v)) throw new Error(`${what}: expected an object, got ${JSON.stringify(v)}`);
  return v;
};
export const num = (v: Json | undefined, what: string): number => {
  if (typeof v !== "number") throw new Error(`${what}: expected a number, got ${JSON.stringify(v)}`);
  return v;
};

/** `{ "Fn::GetAtt": [id, attr] }` → `id.attr`; `{ Ref: id }` → `id`; anything else → undefined. */
export function refOf(v: Json | undefined): string | undefined {
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
export function render(v: Json | undefined): string {
  if (typeof v === "string") return v;
  const ref = refOf(v);
  if (ref !== undefined) return `\${${ref}}`;
  if (isObject(v) && Array.isArray(v["Fn::Join"])) {
    const [sep, parts] = v["Fn::Join"];
    if (typeof sep === "string" && Array.isArray(parts)) return parts.map(render).join(sep);
  }
  throw new Error(`cannot render ${JSON.stringify(v)}`);
}

// ── Synthesis (once per test file) ───────────────────────────────────────────────────────────────────
// Set by synthesizeApp's beforeAll: the temp dir, the app, its stack's template, resources, outputs and annotations.
export let tmp: string;
export let app: App;
export let template: Template;
export let resources: Record<string, CfnResource>;
export let outputs: Record<string, JsonObject>;
export let messages: SynthesisMessage[];

export const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
export const props = (id: string): JsonObject => {
  const resource = resources[id];
  if (!resource) throw new Error(`no resource ${id}`);
  return resource.Properties ?? {};
};
export const env = (fnId: string): JsonObject => {
  const environment = props(fnId).Environment;
  return environment === undefined ? {} : obj(obj(environment, `${fnId}.Environment`).Variables, `${fnId}.Variables`);
};
/** Our functions carry NEXUS_STAGE; SST's internal custom resource handler does not. */
export const nexusFunctions = () => ofType("AWS::Lambda::Function").filter(([id]) => env(id).NEXUS_STAGE !== undefined);
export const functionByHandler = (handler: string): string[] =>
  nexusFunctions()
    .filter(([, r]) => r.Properties?.Handler === handler)
    .map(([id]) => id);
/** Asserts that exactly one enabled EventBridge rule invokes the function, on this schedule, and may. */
export function expectScheduled(fn: string, expression: string) {
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

export const onlyFunction = (handler: string): string => {
  const ids = functionByHandler(handler);
  expect(ids, `functions with handler ${handler}`).toHaveLength(1);
  return ids[0] as string;
};
/** The consumer function of a built-in agent. */
export const agentFunction = (agentId: string): string => {
  const ids = nexusFunctions()
    .filter(([id]) => env(id).NEXUS_AGENT_ID === agentId)
    .map(([id]) => id);
  expect(ids, `consumers of ${agentId}`).toHaveLength(1);
  return ids[0] as string;
};
/** A built-in agent's scaling as the stack resolves it from {@link SCALING_SETTINGS}. */
export const scalingOf = (agentId: string) => {
  const scaling = builtinScaling(SCALING_SETTINGS)[agentId];
  if (!scaling) throw new Error(`no built-in agent ${agentId}`);
  return scaling;
};
export const agentById = (agentId: string) => {
  const agent = BUILTIN_AGENTS.find((a) => a.id === agentId);
  if (!agent) throw new Error(`no built-in agent ${agentId}`);
  return agent;
};
export const secretByName = (name: string): string => {
  const ids = ofType("AWS::SecretsManager::Secret")
    .filter(([, r]) => r.Properties?.Name === `${APP_NAME}/${STAGE}/${name}`)
    .map(([id]) => id);
  expect(ids, `secret ${name}`).toHaveLength(1);
  return ids[0] as string;
};
export const queueByName = (name: string): string => {
  const ids = ofType("AWS::SQS::Queue")
    .filter(([, r]) => r.Properties?.QueueName === name)
    .map(([id]) => id);
  expect(ids, `queue ${name}`).toHaveLength(1);
  return ids[0] as string;
};
export const roleOf = (fnId: string): string => {
  const role = refOf(props(fnId).Role);
  if (!role?.endsWith(".Arn")) throw new Error(`${fnId} has no role in this template`);
  return role.slice(0, -".Arn".length);
};
/** The queue where the scheduled operations' undeliverable events and failed invocations land (stacks/monitoring.ts). */
export const operationsDlqId = () => queueByName(`${APP_NAME}-${STAGE}-operations-dlq`);
/**
 * The SQS statements of a scheduled operation's role but the one letting its failed invocations reach the operations
 * DLQ, which is checked here: SendMessage on that queue only.
 */
export function agentQueueStatements(fnId: string): Statement[] {
  const sqs = roleStatements(roleOf(fnId)).filter((s) => s.Action.some((a) => a.startsWith("sqs:")));
  const toDlq = sqs.filter((s) => s.Resource.some((r) => refOf(r) === `${operationsDlqId()}.Arn`));
  expect(toDlq, fnId).toEqual([
    { Effect: "Allow", Action: ["sqs:SendMessage"], Resource: [{ "Fn::GetAtt": [operationsDlqId(), "Arn"] }] },
  ]);
  return sqs.filter((s) => !toDlq.includes(s));
}

/** The plan state machine (there is one). */
export const stateMachineId = (): string => {
  const ids = ofType("AWS::StepFunctions::StateMachine").map(([id]) => id);
  expect(ids, "state machines").toHaveLength(1);
  return ids[0] as string;
};
export const stateMachineRole = (): string => {
  const role = refOf(props(stateMachineId()).RoleArn);
  if (!role?.endsWith(".Arn")) throw new Error("the state machine has no role in this template");
  return role.slice(0, -".Arn".length);
};
export const normalize = (s: JsonObject): Statement => ({
  Effect: s.Effect === "Deny" ? "Deny" : "Allow",
  Action: asArray(s.Action).map(String),
  Resource: asArray(s.Resource),
  ...(s.Condition === undefined ? {} : { Condition: s.Condition }),
});
export const statementsOf = (document: Json | undefined): Statement[] =>
  asArray(obj(document, "PolicyDocument").Statement).map((s) => normalize(obj(s, "Statement")));
/** Every identity-policy statement that applies to the role (AWS::IAM::Policy attachments and inline policies). */
export const roleStatements = (roleId: string): Statement[] => [
  ...ofType("AWS::IAM::Policy")
    .filter(([, r]) => asArray(r.Properties?.Roles).some((role) => refOf(role) === roleId))
    .flatMap(([, r]) => statementsOf(r.Properties?.PolicyDocument)),
  ...asArray(props(roleId).Policies).flatMap((p) => statementsOf(obj(p, "Policy").PolicyDocument)),
];
/**
 * Every policy statement in the template: identity policies, resource policies and trust policies. `roles`: the roles
 * an identity policy statement applies to (none for resource and trust policies).
 */
export const allStatements = (): Array<{ where: string; statement: Statement; roles: string[] }> =>
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

export const isSecretsAction = (a: string) => a.toLowerCase().startsWith("secretsmanager:");
/** The role EventBridge Scheduler assumes (the only one scheduler.amazonaws.com may assume). */
export function schedulerRoleId(): string {
  const ids = ofType("AWS::IAM::Role")
    .filter(([, r]) => JSON.stringify(r.Properties?.AssumeRolePolicyDocument).includes('"scheduler.amazonaws.com"'))
    .map(([id]) => id);
  expect(ids, "roles EventBridge Scheduler assumes").toHaveLength(1);
  return ids[0] as string;
}

/** Synthesizes the app before the calling test file's tests, and deletes the temp dir after them. Call it once per file. */
export function synthesizeApp(): void {
  beforeAll(synthesize, SYNTH_TIMEOUT_MS);
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
}

/**
 * Synthesizes sst.config.ts at `stage`, offline and in-process, with `env` in the deploying shell (a name set to
 * undefined is unset; the shell is restored afterwards). The cloud assembly and SST's output go to a new temp dir,
 * which the caller deletes.
 */
export async function synthesizeConfig(stage: string, env: Record<string, string | undefined>) {
  process.env.NODE_ENV = "test"; // otherwise App.finish() waits for AWS (bootstrap lookups)
  // SST resolves handler paths against the cwd, and esbuild captures the cwd when it is first imported.
  if (process.cwd() !== ROOT) throw new Error(`run vitest from the repository root (${ROOT}), not ${process.cwd()}`);
  const dir = mkdtempSync(path.join(tmpdir(), "nexus-stacks-"));
  const savedEnv = Object.keys(env).map((name) => [name, process.env[name]] as const);

  // Also loads .env, .env.local, .env.<stage>, .env.<stage>.local into process.env (overriding it), as `sst deploy` does.
  await initProject({ root: ROOT, stage });
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  const project = useProject();
  setProject({ ...project, paths: { ...project.paths, out: dir, artifacts: path.join(dir, "artifacts") } });

  const synthesized = new App(
    { mode: "deploy", name: project.config.name, stage, region: REGION, account: ACCOUNT },
    { outdir: path.join(dir, "cdk.out") },
  );
  try {
    await config.stacks(synthesized);
    await synthesized.finish();
  } finally {
    for (const [name, value] of savedEnv) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  return { app: synthesized, dir };
}

async function synthesize(): Promise<void> {
  const unset = Object.fromEntries([...SETTINGS_ENV, SSRF_ALLOW].map((name) => [name, undefined]));
  ({ app, dir: tmp } = await synthesizeConfig(STAGE, {
    ...unset,
    ...AGENT_SETTINGS,
    ...ALARM_SETTINGS,
    ...SCALING_SETTINGS,
  }));

  const stack = getStack(Nexus);
  template = Template.fromStack(stack);
  const json = template.toJSON();
  resources = json.Resources as Record<string, CfnResource>;
  outputs = (json.Outputs ?? {}) as Record<string, JsonObject>;
  // The assembly is cached: this does not synthesize a second time.
  messages = app.synth().getStackArtifact(stack.artifactId).messages;
}
