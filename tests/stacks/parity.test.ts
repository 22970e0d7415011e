import { DeleteMessageCommand, GetQueueUrlCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { ADMIN_KEY_SECRET, invoking, type LocalNexus, startLocal, TABLE_NAME } from "@nexus/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, type Json } from "../support/client.js";
import { recordSdkCalls, type SdkCall } from "../support/sdk-calls.js";
import {
  ACCOUNT,
  agentFunction,
  env,
  ofType,
  onlyFunction,
  PREFIX,
  REGION,
  refOf,
  render,
  roleOf,
  roleStatements,
  STATE_MACHINE_NAME,
  type Statement,
  synthesizeApp,
} from "./synth.js";

/**
 * Cloud parity: every AWS SDK command each function sends while a representative scenario runs on the local runtime
 * (the same code as in Lambda, on the emulators) is checked against that function's IAM role in the synthesized
 * template. A call the role would refuse in AWS fails the test; an action the role allows that no call made fails it too,
 * unless {@link NOT_EXERCISED} says why it cannot be made locally.
 *
 * How calls are seen: a middleware on every SDK client of this process (support/sdk-calls.ts), attributed to the
 * function whose invocation sent it (the local runtime marks each: an API request, an agent's batch and its queue's
 * polling, a plan runner task, a sweep, a probe, a failures pass, a schedule tick; packages/local/src/invocations.ts).
 * How far resources are checked: actions always (IAM wildcards), and the resource wherever its ARN follows from the
 * call's input: DynamoDB tables and indexes, SQS queues, the plan state machine and its executions, Secrets Manager
 * secrets (the template's names mapped to the local ones through the environment variable that names each). Other
 * resources (SES identities, the Bedrock model) are matched by action only; statement conditions are not evaluated.
 *
 * Why one scenario here rather than recording the whole end-to-end suite: vitest runs the suite across worker
 * processes in any order, so a check of "every allowed action is made" would depend on which files ran; one
 * deterministic scenario in this file exercises every function's paths in about a minute and fails the same way
 * every time.
 */
synthesizeApp();

/** The local runtime's names for what the template names (and the queue prefix it uses). */
const LOCAL_PREFIX = "nexus-local-agent-";
const LOCAL_STATE_MACHINE = "nexus-local-plans";
const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;

/**
 * Actions a role allows that this run does not make, by function ("*": every function), each with the reason. Those
 * marked "common grant" are part of the item reads and writes every function gets on the table (tests/stacks/
 * security.test.ts) and no code path of that function sends: candidates for a narrower role.
 */
const COMMON_GRANT = "common grant: the table's item reads and writes every function gets; this function sends none";
const CONSUME_GRANT =
  "granted with the event source mapping (CDK's grantConsumeMessages): Lambda's poller may use it, Nexus's code never does";
const NO_LLM = "the synthesized stack plans with Bedrock; the local run has no LLM and the rules planner answers";
const AGENT: Record<string, string> = {
  "dynamodb:GetItem":
    "read when a delivery's conditional claim fails (a redelivered message of a finished task, attempts.ts), and when a plan step's task succeeds (the step's run, plans/report.ts): whether this run gives an agent either is timing",
  "sqs:ChangeMessageVisibility": CONSUME_GRANT,
  "sqs:GetQueueUrl": CONSUME_GRANT,
};
/**
 * Listed actions a run may still make, timing permitting (a redelivery, a lease running out under load): made, they
 * are fine. Every other listed action made by a call fails the test, so the list stays true.
 */
const MAY_BE_MADE = new Set([
  ...["diag", "comms", "ops", "research", "strategy"].map((id) => `agent:${id}: dynamodb:GetItem`),
  "sweeper: states:SendTaskFailure",
  "sweeper: states:SendTaskHeartbeat",
  "sweeper: dynamodb:PutItem",
  "sweeper: states:StartExecution",
]);
const NOT_EXERCISED: Record<string, Record<string, string>> = {
  "*": {
    "logs:CreateLogStream": "the Lambda runtime writes the function's logs, not its code",
    "logs:PutLogEvents": "the Lambda runtime writes the function's logs, not its code",
    "xray:PutTraceSegments": "sent by the Lambda runtime's X-Ray daemon, not by the function's code",
    "xray:PutTelemetryRecords": "sent by the Lambda runtime's X-Ray daemon, not by the function's code",
    "s3:GetObject": "payloads are files under the data directory locally (objects.ts fileObjectStore), S3 in AWS",
    "s3:PutObject": "payloads are files under the data directory locally (objects.ts fileObjectStore), S3 in AWS",
    "lambda:UpdateEventSourceMapping":
      "locally the runtime's pollers stand for the event source mappings (ctx.consumers), switched in process",
    "lambda:GetEventSourceMapping":
      "locally the runtime's pollers stand for the event source mappings (ctx.consumers), read in process",
  },
  "agent:diag": AGENT,
  "agent:comms": AGENT,
  "agent:ops": AGENT,
  "agent:research": AGENT,
  "agent:strategy": {
    ...AGENT,
    "bedrock:InvokeModel": NO_LLM,
    "secretsmanager:GetSecretValue":
      "the planner secret holds an OpenAI-compatible LLM's key; the local run has no LLM",
  },
  api: {
    "bedrock:InvokeModel": NO_LLM,
    "scheduler:CreateSchedule": "locally the runtime fires schedules from their records: no EventBridge Scheduler",
    "scheduler:UpdateSchedule": "locally the runtime fires schedules from their records: no EventBridge Scheduler",
    "scheduler:DeleteSchedule": "locally the runtime fires schedules from their records: no EventBridge Scheduler",
    "scheduler:GetSchedule": "locally the runtime fires schedules from their records: no EventBridge Scheduler",
    "iam:PassRole": "passed to EventBridge Scheduler with a schedule, which does not exist locally",
    "sqs:TagQueue": "a custom agent's queues are created with tags (queues.ts), which AWS authorizes with sqs:TagQueue",
    "sqs:SetQueueAttributes":
      "granted with CreateQueue; the code creates queues with their attributes, never sets them",
    "sqs:GetQueueUrl": "granted with CreateQueue; the code keeps the URL CreateQueue returns",
    "states:DescribeExecution": "granted with StopExecution; only the sweeper's reconciliation describes executions",
  },
  failures: {
    "dynamodb:UpdateItem": COMMON_GRANT,
    "sqs:SendMessage":
      "the operations DLQ is its asynchronous invocations' on-failure destination: Lambda sends to it, not the code",
  },
  probe: { "dynamodb:Query": COMMON_GRANT, "dynamodb:UpdateItem": COMMON_GRANT },
  sweeper: {
    "dynamodb:PutItem":
      "writes the events feed's item (events.ts) or a failure record when it changes a task: whether this run's sweeps change one is timing",
    "states:SendTaskFailure":
      "fails a plan step whose task's lease ran out with no attempts left: a worker that vanished for its whole lease",
    "states:SendTaskHeartbeat":
      "heartbeats a plan step whose task waits behind a backlog longer than the grace: this run makes no such backlog",
    "states:StartExecution":
      "starts a plan stored whose API call died before starting it: a fault this run does not make",
  },
};

/** Takes every message waiting on an agent's local queue off it: lost, as far as the sweeper can tell. */
async function loseMessages(agentId: string) {
  const sqs = new SQSClient({
    region: REGION,
    endpoint: local.endpoints.sqs,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  try {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: `${LOCAL_PREFIX}${agentId}` }));
    for (;;) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }));
      if (Messages.length === 0) return;
      for (const { ReceiptHandle } of Messages) await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle }));
    }
  } finally {
    sqs.destroy();
  }
}

interface Recorded extends SdkCall {
  action: string;
  /** The resource's ARN, when the input names it. */
  resource?: string;
}

const SERVICES: Record<string, string> = {
  DynamoDBClient: "dynamodb",
  SQSClient: "sqs",
  SFNClient: "states",
  SecretsManagerClient: "secretsmanager",
  SESClient: "ses",
  SESv2Client: "ses",
  S3Client: "s3",
  SchedulerClient: "scheduler",
  LambdaClient: "lambda",
  BedrockRuntimeClient: "bedrock",
};

const queueName = (url: unknown) => String(url).split("/").pop() ?? "";

/** The IAM action and (where it follows from the input) the resource ARN of a call. */
function iamOf(call: SdkCall): Recorded {
  const service = SERVICES[call.client] ?? call.client;
  // SQS authorizes a batch with its single action's permission (DeleteMessageBatch needs sqs:DeleteMessage).
  const operation = call.command.replace(/Command$/, "").replace(/^(\w+Message|ChangeMessageVisibility)Batch$/, "$1");
  const action = `${service}:${operation === "Converse" ? "InvokeModel" : operation}`;
  const input = call.input;
  let resource: string | undefined;
  if (service === "dynamodb") {
    const table = (input.TableName as string | undefined) ?? Object.keys(input.RequestItems ?? {})[0];
    if (table) resource = arn("dynamodb", `table/${table}${input.IndexName ? `/index/${input.IndexName}` : ""}`);
  } else if (service === "sqs") {
    const name = input.QueueUrl ? queueName(input.QueueUrl) : (input.QueueName as string | undefined);
    if (name) resource = arn("sqs", name);
  } else if (service === "states") {
    resource =
      (input.stateMachineArn as string | undefined) ??
      (input.executionArn as string | undefined) ??
      // A task token names no ARN; there is one state machine.
      (operation.startsWith("SendTask") ? arn("states", `stateMachine:${LOCAL_STATE_MACHINE}`) : undefined);
  } else if (service === "secretsmanager" && typeof input.SecretId === "string") {
    resource = input.SecretId.startsWith("arn:")
      ? input.SecretId
      : arn("secretsmanager", `secret:${input.SecretId}-AbCdEf`);
  }
  return { ...call, action, ...(resource ? { resource } : {}) };
}

/** IAM's wildcards: `*` any run of characters, `?` any one. */
const wildcard = (pattern: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replaceAll("*", ".*")
      .replaceAll("?", ".")}$`,
    "i",
  );

let local: LocalNexus;
let api: ReturnType<typeof apiClient>;
const calls: Recorded[] = [];
let stopRecording: () => void = () => undefined;

/** The local ARN a template resource stands for: refs to the table, queues and secrets, names mapped to local ones. */
function localResource(resource: Parameters<typeof render>[0], secrets: Map<string, string>): string {
  const ref = refOf(resource);
  const types = Object.fromEntries(ofType("AWS::DynamoDB::Table").map(([id]) => [id, "table"]));
  for (const [id, r] of ofType("AWS::SQS::Queue")) types[id] = `queue:${String(r.Properties?.QueueName ?? id)}`;
  let text = render(resource);
  for (const [id, kind] of Object.entries(types)) {
    const local =
      kind === "table"
        ? arn("dynamodb", `table/${TABLE_NAME}`)
        : arn("sqs", kind.slice("queue:".length).replace(PREFIX, LOCAL_PREFIX));
    text = text.replaceAll(`\${${id}.Arn}`, local);
  }
  if (ref && secrets.has(ref)) return arn("secretsmanager", `secret:${secrets.get(ref)}-??????`);
  return text
    .replaceAll(`\${AWS::Partition}`, "aws")
    .replaceAll(`\${AWS::Region}`, REGION)
    .replaceAll(`\${AWS::AccountId}`, ACCOUNT)
    .replaceAll(PREFIX, LOCAL_PREFIX)
    .replaceAll(STATE_MACHINE_NAME, LOCAL_STATE_MACHINE);
}

/** The template's functions by the local runtime's names for them. */
function functions(): Record<string, string> {
  const byName: Record<string, string> = {
    api: onlyFunction("functions/api.handler"),
    plans: onlyFunction("functions/plans.handler"),
    schedule: onlyFunction("functions/schedule.handler"),
    sweeper: onlyFunction("functions/sweeper.handler"),
    failures: onlyFunction("functions/failures.handler"),
    probe: onlyFunction("functions/probe.handler"),
  };
  for (const id of ["diag", "comms", "ops", "research", "strategy"]) byName[`agent:${id}`] = agentFunction(id);
  return byName;
}

/** Secrets by logical id → their local names, through the environment variable that names each in both places. */
function secretNames(): Map<string, string> {
  const names = new Map<string, string>();
  const localValues: Record<string, string> = { ...local.agentConfig, NEXUS_ADMIN_KEY_SECRET: ADMIN_KEY_SECRET };
  for (const fn of Object.values(functions())) {
    for (const [name, value] of Object.entries(env(fn))) {
      const ref = refOf(value);
      const localName = localValues[name];
      if (ref && name.endsWith("_SECRET") && localName) names.set(ref, localName);
    }
  }
  return names;
}

interface Policy {
  statements: Array<Statement & { resources: string[] }>;
}

function policyOf(fnId: string, secrets: Map<string, string>): Policy {
  return {
    statements: roleStatements(roleOf(fnId)).map((s) => ({
      ...s,
      resources: s.Resource.map((r) => localResource(r, secrets)),
    })),
  };
}

function allows(policy: Policy, call: Recorded): boolean {
  const matching = (s: Policy["statements"][number]) =>
    s.Action.some((a) => wildcard(a).test(call.action)) &&
    (call.resource === undefined || s.resources.some((r) => wildcard(r).test(call.resource as string)));
  if (policy.statements.some((s) => s.Effect === "Deny" && matching(s))) return false;
  return policy.statements.some((s) => s.Effect === "Allow" && matching(s));
}

// ── the scenario ──────────────────────────────────────────────────────────────────────────────────────

async function scenario() {
  const ok = async (reply: Promise<{ status: number; body: Json }>) => {
    const r = await reply;
    expect(r.status >= 200 && r.status < 300, `${r.status} ${JSON.stringify(r.body)}`).toBe(true);
    return r.body;
  };
  // Tasks on every built-in agent, through the API: each agent's consumer runs its action.
  const researchUrl = local.standIns.research?.url;
  const tasks = [
    { agentId: "diag", action: "echo", params: { hello: "world" } },
    { agentId: "diag", action: "fail", params: { times: 1 } },
    { agentId: "comms", action: "send_email", params: { to: ["ops@example.com"], subject: "parity", text: "hi" } },
    { agentId: "comms", action: "send_sms", params: { to: "+15005550006", body: "hi" } },
    { agentId: "ops", action: "run_command", params: { command: "date", args: ["-u"] } },
    { agentId: "ops", action: "write_file", params: { path: "parity.txt", content: "hi" } },
    { agentId: "strategy", action: "summarize", params: { text: "One. Two. Three. Four.", maxSentences: 2 } },
    ...(researchUrl
      ? [{ agentId: "research", action: "fetch_page", params: { url: `${researchUrl}/demo/article.html` } }]
      : []),
  ];
  for (const task of tasks) {
    const created = await ok(api.post("/v1/tasks", task));
    await api.waitForTask(created.id, undefined, 60_000);
  }
  await ok(api.get("/v1/agents/diag"));
  // A failure for good: the worker dead-letters it, the failures function takes it in, the API redrives it.
  const failing = await ok(
    api.post("/v1/tasks", { agentId: "diag", action: "fail", params: { times: 5, retriable: false } }),
  );
  await api.waitForTask(failing.id, ["failed"], 30_000);
  await local.ingestFailures();
  const failure = (await ok(api.get("/v1/failures"))).items.find((f: Json) => f.taskId === failing.id);
  await ok(api.post(`/v1/failures/${failure.id}/redrive`, {}));
  // A task cancelled while it runs.
  const sleeping = await ok(api.post("/v1/tasks", { agentId: "diag", action: "sleep", params: { ms: 3_000 } }));
  await api.waitForTask(sleeping.id, ["running"], 30_000);
  await ok(api.post(`/v1/tasks/${sleeping.id}/cancel`));
  // Plans: a gate approved, a plan cancelled, a goal the strategy planner writes.
  const gated = await ok(
    api.post("/v1/plans", {
      steps: [
        { id: "ask", kind: "approval", message: "go?" },
        { id: "say", agentId: "diag", action: "echo", params: {}, dependsOn: ["ask"] },
      ],
    }),
  );
  await api.waitUntil(`/v1/plans/${gated.id}`, (p) => p.status === "waiting_approval", 30_000);
  await ok(api.post(`/v1/plans/${gated.id}/steps/ask/approve`, {}));
  await api.waitForPlan(gated.id, ["succeeded"], 60_000);
  // A step on every agent (each reports its attempt's start and its outcome through the task token), then a step
  // failing for good on each (its failure goes the same way).
  const agentSteps: Json[] = tasks
    .filter((t) => t.action !== "fail" && t.action !== "send_sms")
    .map((t, i) => ({ id: `s${i}`, agentId: t.agentId, action: t.action, params: t.params }));
  // A reference to another step's result: the runner reads that task to resolve it.
  const reference = { id: "ref", agentId: "diag", action: "echo", params: { v: "{{steps.s0.result.hello}}" } };
  const everyAgent = await ok(api.post("/v1/plans", { steps: [...agentSteps, { ...reference, dependsOn: ["s0"] }] }));
  await api.waitForPlan(everyAgent.id, ["succeeded"], 60_000);
  const failingSteps = [
    { agentId: "diag", action: "fail", params: { times: 5, retriable: false } },
    { agentId: "comms", action: "send_sms", params: { to: "+15005550001", body: "to an invalid number" } },
    { agentId: "ops", action: "read_file", params: { path: "no-such-file.txt" } },
    { agentId: "research", action: "fetch_page", params: { url: "http://10.0.0.1/" } },
    { agentId: "strategy", action: "plan", params: { goal: "xyzzy plugh" } },
  ];
  for (const step of failingSteps) {
    const plan = await ok(api.post("/v1/plans", { steps: [{ id: "bad", ...step, retry: { maxAttempts: 1 } }] }));
    await api.waitForPlan(plan.id, ["failed"], 60_000);
  }
  // A step whose agent went out of service while its plan waited: the runner fails it at dispatch.
  await ok(api.post("/v1/agents", { name: "gone", actions: [{ name: "work" }] }));
  const undispatchable = await ok(
    api.post("/v1/plans", {
      steps: [
        { id: "ask", kind: "approval", message: "go?" },
        { id: "work", agentId: "gone", action: "work", dependsOn: ["ask"] },
      ],
    }),
  );
  await api.waitUntil(`/v1/plans/${undispatchable.id}`, (p) => p.status === "waiting_approval", 30_000);
  await ok(api.post("/v1/agents/gone/deactivate"));
  await ok(api.post(`/v1/plans/${undispatchable.id}/steps/ask/approve`, {}));
  await api.waitForPlan(undispatchable.id, ["failed"], 30_000);
  const stopped = await ok(
    api.post("/v1/plans", { steps: [{ id: "nap", agentId: "diag", action: "sleep", params: { ms: 20_000 } }] }),
  );
  await api.waitUntil(`/v1/plans/${stopped.id}`, (p) => p.status === "running", 30_000);
  await ok(api.post(`/v1/plans/${stopped.id}/cancel`));
  await ok(api.post("/v1/plans", { goal: "run df -h", dryRun: true }));
  // Schedules: created, changed, run now, fired by the scheduler, deleted.
  const schedule = await ok(
    api.post("/v1/schedules", {
      name: "parity",
      rate: "rate(1 minute)",
      target: { type: "task", agentId: "diag", action: "echo" },
    }),
  );
  await ok(api.raw("PATCH", `/v1/schedules/${schedule.id}`, { overlap: "allow" }));
  await ok(api.post(`/v1/schedules/${schedule.id}/run-now`));
  const planSchedule = await ok(
    api.post("/v1/schedules", {
      name: "parity-plan",
      rate: "rate(1 minute)",
      target: { type: "plan", steps: [{ id: "one", agentId: "diag", action: "echo", params: {} }] },
    }),
  );
  await invoking("schedule", () => local.scheduler.tick(new Date(Date.now() + 61_000), { lateAfterMs: 3_600_000 }));
  await api.waitUntil(`/v1/schedules/${planSchedule.id}`, (s) => s.runs > 0, 30_000);
  await ok(api.delete(`/v1/schedules/${schedule.id}`));
  // A remote agent: registered (its queues), claimed from, reported on, heartbeats, deactivated, deleted.
  await ok(api.post("/v1/agents", { name: "remote", actions: [{ name: "work" }] }));
  // One of them a plan's step: its claim (an attempt's start) is a heartbeat to the plan's execution.
  const remotePlan = await ok(api.post("/v1/plans", { steps: [{ id: "r", agentId: "remote", action: "work" }] }));
  await api.waitUntil(`/v1/plans/${remotePlan.id}`, (p) => p.steps[0].taskId, 30_000);
  for (let i = 0; i < 2; i++) await ok(api.post("/v1/tasks", { agentId: "remote", action: "work" }));
  // The plan's task fails (the API tells its execution, SendTaskFailure); a plain one is extended and completes.
  const planTaskId = (await ok(api.get(`/v1/plans/${remotePlan.id}`))).steps[0].taskId;
  const claimed: Json[] = [];
  for (let tries = 0; tries < 10 && claimed.length < 3; tries++) {
    const max = 3 - claimed.length;
    claimed.push(...((await ok(api.post("/v1/agents/remote/tasks/claim", { max, waitSeconds: 5 }))).tasks as Json[]));
  }
  const planTask = claimed.find((t) => t.id === planTaskId);
  const plain = claimed.filter((t) => t.id !== planTaskId);
  expect(planTask, "the plan's task is claimed").toBeDefined();
  expect(plain.length).toBe(2);
  const [first, second] = plain as [Json, Json];
  await ok(api.post(`/v1/tasks/${first.id}/extend`, { leaseToken: first.leaseToken }));
  await ok(api.post(`/v1/tasks/${first.id}/complete`, { leaseToken: first.leaseToken, result: { ok: true } }));
  const error = { code: "nope", message: "no", retriable: false };
  await ok(api.post(`/v1/tasks/${planTask?.id}/fail`, { leaseToken: planTask?.leaseToken, error }));
  await ok(api.post(`/v1/tasks/${second.id}/complete`, { leaseToken: second.leaseToken, result: 1 }));
  await ok(api.post("/v1/agents/remote/heartbeat", { load: 0, done: 1, failed: 0, intervalSeconds: 60 }));
  await ok(api.post("/v1/agents/remote/deactivate"));
  await ok(api.post("/v1/agents/remote/reactivate"));
  // The sweeper: a remote task whose message was lost goes back on its queue; an open plan run's execution is looked at.
  await ok(api.post("/v1/tasks", { agentId: "remote", action: "work" }));
  await loseMessages("remote");
  const open = await ok(api.post("/v1/plans", { steps: [{ id: "ask", kind: "approval", message: "later" }] }));
  await api.waitUntil(`/v1/plans/${open.id}`, (p) => p.status === "waiting_approval", 30_000);
  await local.sweep(0);
  await ok(api.post(`/v1/plans/${open.id}/cancel`));
  await ok(api.post("/v1/agents/diag/deactivate"));
  await ok(api.post("/v1/agents/diag/reactivate"));
  await ok(api.delete("/v1/agents/remote?force=true"));
  // Keys, the audit trail, a backup page.
  const key = await ok(api.post("/v1/keys", { name: "parity", role: "viewer" }));
  await ok(api.delete(`/v1/keys/${key.id}`));
  await ok(api.get("/v1/audit"));
  await ok(api.get("/v1/backup/export"));
  // The scheduled operations: the health probe (and each agent's health action), the sweeper.
  await local.probe();
  for (const agentId of ["diag", "comms", "ops", "research", "strategy"]) {
    await api.waitUntil(`/v1/agents/${agentId}`, (a) => a.lastHeartbeatAt !== null, 60_000);
  }
}

beforeAll(async () => {
  stopRecording = recordSdkCalls((call) => calls.push(iamOf(call)));
  local = await startLocal({
    port: 0,
    logLevel: "SILENT",
    settings: { rateLimitPerMinute: 1_000_000 },
    sweepIntervalMs: 3_600_000,
    probeIntervalMs: 3_600_000,
    failureIngestIntervalMs: 3_600_000,
    scheduleIntervalMs: 0,
  });
  api = apiClient(local.url, local.adminKey);
  await scenario();
}, 300_000);

afterAll(async () => {
  await local?.stop();
  stopRecording();
});

describe("IAM parity between the local run and the synthesized roles", () => {
  it("made calls from every function", () => {
    const made = new Set(calls.map((c) => c.fn));
    for (const fn of Object.keys(functions())) expect(made.has(fn), fn).toBe(true);
  });

  it("every call a function made is allowed by its role", () => {
    const secrets = secretNames();
    const refused: string[] = [];
    for (const [name, fnId] of Object.entries(functions())) {
      const policy = policyOf(fnId, secrets);
      for (const call of calls.filter((c) => c.fn === name)) {
        if (!allows(policy, call)) refused.push(`${name}: ${call.action} on ${call.resource ?? "(any resource)"}`);
      }
    }
    expect([...new Set(refused)].sort()).toEqual([]);
  });

  it("every action a role allows is made by some call, or is listed with the reason it cannot be made locally", () => {
    const unexercised: string[] = [];
    const listedButMade: string[] = [];
    for (const [name, fnId] of Object.entries(functions())) {
      const made = calls.filter((c) => c.fn === name).map((c) => c.action);
      const allowed = new Set(
        roleStatements(roleOf(fnId))
          .filter((s) => s.Effect === "Allow")
          .flatMap((s) => s.Action),
      );
      const reasons = { ...NOT_EXERCISED["*"], ...NOT_EXERCISED[name] };
      for (const action of allowed) {
        const exercised = made.some((m) => wildcard(action).test(m));
        if (!exercised && !reasons[action]) unexercised.push(`${name}: ${action}`);
        if (exercised && reasons[action] && !MAY_BE_MADE.has(`${name}: ${action}`)) {
          listedButMade.push(`${name}: ${action}`);
        }
      }
    }
    expect(unexercised.sort()).toEqual([]);
    expect(listedButMade.sort()).toEqual([]);
  });

  it("refuses what a role does not allow (the check itself)", () => {
    const policy = policyOf(functions()["agent:diag"] as string, secretNames());
    const refusedCalls: SdkCall[] = [
      { fn: "agent:diag", client: "DynamoDBClient", command: "ScanCommand", input: { TableName: TABLE_NAME } },
      { fn: "agent:diag", client: "SQSClient", command: "DeleteQueueCommand", input: { QueueUrl: "x/y" } },
      { fn: "agent:diag", client: "DynamoDBClient", command: "GetItemCommand", input: { TableName: "another-table" } },
    ];
    for (const call of refusedCalls) expect(allows(policy, iamOf(call)), call.command).toBe(false);
    const allowedCall: SdkCall = {
      fn: "agent:diag",
      client: "DynamoDBClient",
      command: "GetItemCommand",
      input: { TableName: TABLE_NAME },
    };
    expect(allows(policy, iamOf(allowedCall))).toBe(true);
  });
});
