import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { createLogger } from "@nexus/core";
import * as Tasks from "@nexus/core/tasks";
import type { APIGatewayProxyEventV2, Context as LambdaContext, SQSBatchResponse } from "aws-lambda";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startFunctionContext, type startTestContext } from "./support/context.js";
import { apiGatewayEvent, lambdaContext, sqsEvent, sqsRecordFactory } from "./support/events.js";
import { captureOutput } from "./support/output.js";

/**
 * Telemetry as Lambda produces it: the entry points loaded as Lambda loads them, invoked with hand-built events
 * against the emulators, their stdout captured and parsed. JSON log records with their ids, EMF records with the
 * metric names, units, dimensions and namespace the alarms and the dashboard use, the trace header carried from the
 * API's invocation onto the task's message, and secrets kept out of every record.
 */
const ADMIN = "nxk_telemetry001_SECRETadminKEYvalue-0123456789abcdefghijklmn";
const PROVIDER_SECRET = "provider-token-SECRET-4f3e2d1c0b9a";
const TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

let env: Awaited<ReturnType<typeof startTestContext>>;
let api: (event: APIGatewayProxyEventV2, context: LambdaContext) => Promise<{ statusCode: number; body: string }>;
let agent: (event: ReturnType<typeof sqsEvent>, context: LambdaContext) => Promise<SQSBatchResponse>;
let failures: (event: unknown, context: LambdaContext) => Promise<{ recorded: number }>;

/** Every line the functions write (kept, not shown). */
let output: ReturnType<typeof captureOutput>;

beforeAll(async () => {
  output = captureOutput();
  env = await startFunctionContext(
    {
      prefix: "nexus-telemetry-agent-",
      secrets: { "nexus/test/admin-key": ADMIN, "nexus/test/provider": JSON.stringify({ token: PROVIDER_SECRET }) },
    },
    { NEXUS_STAGE: "telemetry", POWERTOOLS_LOG_LEVEL: "INFO" },
  );
  api = (await import("../functions/api.js")).handler as unknown as typeof api;
  agent = (await import("../functions/agents/diag.js")).handler;
  failures = (await import("../functions/failures.js")).handler as typeof failures;
});
afterAll(async () => {
  output?.restore();
  delete process.env._X_AMZN_TRACE_ID;
  await env?.stop();
});
beforeEach(() => {
  output.clear();
});

type Json = Record<string, unknown>;
const records = () => output.records();
const logRecords = () => output.logRecords();

interface Emf {
  namespace: string;
  dimensions: string[][];
  metrics: Record<string, { unit: string; value: unknown }>;
  record: Json;
}
/** The EMF records written, each with its directive read back. */
const emf = (): Emf[] =>
  records()
    .filter((r) => "_aws" in r)
    .map((record) => {
      const directive = (record._aws as { CloudWatchMetrics: Array<Json> }).CloudWatchMetrics[0] as {
        Namespace: string;
        Dimensions: string[][];
        Metrics: Array<{ Name: string; Unit: string }>;
      };
      return {
        namespace: directive.Namespace,
        dimensions: directive.Dimensions,
        metrics: Object.fromEntries(directive.Metrics.map((m) => [m.Name, { unit: m.Unit, value: record[m.Name] }])),
        record,
      };
    });
/** The EMF records carrying a metric, as `{dimensions…, value, unit}`. */
const metric = (name: string) =>
  emf()
    .filter((e) => name in e.metrics)
    .map((e) => ({
      namespace: e.namespace,
      dimensions: Object.fromEntries((e.dimensions[0] ?? []).map((d) => [d, e.record[d]])),
      unit: e.metrics[name]?.unit,
      value: e.metrics[name]?.value,
    }));

async function submit(params: Json, action = "echo") {
  const res = await api(
    apiGatewayEvent("POST", "/v1/tasks", { agentId: "diag", action, params }, ADMIN),
    lambdaContext(),
  );
  expect(res.statusCode).toBe(202);
  return JSON.parse(res.body) as { id: string };
}

/** Takes the task's message off the diag queue, as the event source mapping would, with its system attributes. */
async function receive(taskId: string) {
  const out = await env.ctx.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: env.ctx.builtinQueues.diag?.url,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      MessageSystemAttributeNames: ["AWSTraceHeader"],
      // The local SQS reads only the older name of the same list.
      AttributeNames: ["All"],
    }),
  );
  const message = (out.Messages ?? []).find((m) => JSON.parse(m.Body ?? "{}").taskId === taskId);
  if (!message) throw new Error(`no message for ${taskId}`);
  return message;
}

const deliver = (body: string) => agent(sqsEvent(sqsRecordFactory(body)), lambdaContext());

describe("a task through the Lambda functions", () => {
  it("is traced from the API's invocation onto its message (AWSTraceHeader), logged with its ids, measured as EMF", async () => {
    process.env._X_AMZN_TRACE_ID = TRACE;
    const task = await submit({ hello: "world" });
    delete process.env._X_AMZN_TRACE_ID;

    // The API's records: the submission, by request id and task id.
    const submitted = logRecords().find((r) => r.message === "task submitted");
    expect(submitted).toMatchObject({ level: "INFO", service: "nexus-api", taskId: task.id, agentId: "diag" });
    expect(submitted?.requestId).toEqual(expect.any(String));
    expect(submitted?.function_request_id).toEqual(expect.any(String));
    // The API's metrics: one submission for diag, one 2xx response and its latency, in Nexus/<stage>.
    expect(metric("TasksSubmitted")).toEqual([
      { namespace: "Nexus/telemetry", dimensions: { Agent: "diag" }, unit: "Count", value: 1 },
    ]);
    expect(metric("ApiRequests")).toEqual([
      { namespace: "Nexus/telemetry", dimensions: { StatusClass: "2xx" }, unit: "Count", value: 1 },
    ]);
    expect(metric("ApiLatency")).toEqual([
      { namespace: "Nexus/telemetry", dimensions: {}, unit: "Milliseconds", value: expect.any(Number) },
    ]);

    // The trace header went onto the task's message.
    const message = await receive(task.id);
    expect(message.Attributes?.AWSTraceHeader).toBe(TRACE);

    // The agent's invocation: its records carry the task, agent and attempt; its metrics the outcome.
    output.clear();
    expect(await deliver(message.Body ?? "")).toEqual({ batchItemFailures: [] });
    expect((await Tasks.get(env.ctx, task.id)).status).toBe("succeeded");
    const succeeded = logRecords().find((r) => r.message === "task succeeded");
    expect(succeeded).toMatchObject({
      service: "nexus-agent-diag",
      taskId: task.id,
      agentId: "diag",
      attempt: 1,
      attemptId: `${task.id}#1`,
      action: "echo",
    });
    expect(succeeded?.function_request_id).toEqual(expect.any(String));
    expect(metric("TasksSucceeded")).toEqual([
      { namespace: "Nexus/telemetry", dimensions: { Agent: "diag" }, unit: "Count", value: 1 },
    ]);
    for (const name of ["TaskDuration", "TaskQueuedTime"]) {
      const [point] = metric(name);
      expect(point, name).toMatchObject({ dimensions: { Agent: "diag" }, unit: "Milliseconds" });
      expect(point?.value, name).toBeGreaterThanOrEqual(0);
    }
  });

  it("sends no trace header when there is no trace", async () => {
    const task = await submit({ untraced: true });
    expect((await receive(task.id)).Attributes?.AWSTraceHeader).toBeUndefined();
  });

  it("counts a retried attempt, a task failed for good and its dead letter, with its ids on the failure's record", async () => {
    const retried = await submit({ times: 1 }, "fail");
    output.clear();
    await deliver((await receive(retried.id)).Body ?? "");
    expect(metric("TasksRetried")).toEqual([
      { namespace: "Nexus/telemetry", dimensions: { Agent: "diag" }, unit: "Count", value: 1 },
    ]);
    expect(logRecords().find((r) => r.message === "attempt failed; retry scheduled")).toMatchObject({
      taskId: retried.id,
      attemptId: `${retried.id}#1`,
    });

    const failing = await submit({ times: 5, retriable: false }, "fail");
    output.clear();
    await deliver((await receive(failing.id)).Body ?? "");
    expect(metric("TasksFailed")).toEqual([
      { namespace: "Nexus/telemetry", dimensions: { Agent: "diag" }, unit: "Count", value: 1 },
    ]);
    // Dead-lettered where it failed: into the failures inbox and the DLQ, counted once.
    expect(metric("DlqArrivals")).toEqual([
      { namespace: "Nexus/telemetry", dimensions: { Agent: "diag" }, unit: "Count", value: 1 },
    ]);
    expect(logRecords().find((r) => r.message === "task failed")).toMatchObject({
      level: "ERROR",
      taskId: failing.id,
      agentId: "diag",
      attempt: 1,
      attemptId: `${failing.id}#1`,
    });

    // The ingestion pass finds it in the inbox already: it records nothing twice, nor counts it again.
    output.clear();
    expect((await failures({}, lambdaContext())).recorded).toBe(0);
    expect(metric("DlqArrivals")).toEqual([]);
  });
});

describe("log records", () => {
  it("never carry secrets: secret-looking params and headers, API keys and bearer tokens in text, values read from Secrets Manager", async () => {
    // As any function reads provider credentials: through the one secrets provider.
    expect(await env.ctx.secrets.get("nexus/test/provider")).toContain(PROVIDER_SECRET);
    const logger = createLogger("nexus-test", { level: "DEBUG" });
    const task = {
      id: "tsk_secretive",
      agentId: "diag",
      params: { to: "ops@example.com", password: "hunter2-hunter2", apiKey: "ak-0123456789", token: "t0k3n-abcdef" },
    };
    output.clear();
    logger.info("task received", {
      task,
      headers: { authorization: `Bearer ${ADMIN}`, "x-api-key": "xk-0123456789", "content-type": "application/json" },
      webhookUrl: "https://hooks.example.com/services/T000/B000/XXXXSECRET",
      upstream: "https://svc:pa55w0rd-SECRET@internal.example.com/path",
    });
    logger.warn(`provider refused the call: Authorization: Bearer ${PROVIDER_SECRET}, key ${ADMIN}`);
    logger.error("provider call failed", new Error(`token ${PROVIDER_SECRET} was refused`));

    const written = output.lines.join("\n");
    for (const secret of [
      ADMIN,
      ADMIN.slice(17),
      PROVIDER_SECRET,
      "hunter2-hunter2",
      "ak-0123456789",
      "t0k3n-abcdef",
      "xk-0123456789",
      "XXXXSECRET",
      "pa55w0rd-SECRET",
    ]) {
      expect(written.includes(secret), `${secret.slice(0, 10)}… leaked`).toBe(false);
    }
    // What is not secret is still there: the record stays useful.
    const [received, warned, failed] = logRecords();
    expect(received).toMatchObject({
      message: "task received",
      task: { id: "tsk_secretive", params: { to: "ops@example.com", password: "[redacted]" } },
      headers: { authorization: "[redacted]", "content-type": "application/json" },
    });
    expect(warned?.message).toContain("nxk_telemetry001_[redacted]");
    expect(failed).toMatchObject({ level: "ERROR", error: { name: "Error", message: "token [redacted] was refused" } });
  });
});
