import { createSocket, type Socket } from "node:dgram";
import { createServer, get as httpGet } from "node:http";
import type { AddressInfo } from "node:net";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import type { APIGatewayProxyEventV2, Context as LambdaContext, SQSBatchResponse } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFunctionContext, type startTestContext } from "./support/context.js";
import { apiGatewayEvent, lambdaContext, sqsEvent, sqsRecordFactory } from "./support/events.js";
import { captureOutput } from "./support/output.js";

/**
 * X-Ray tracing as it runs in Lambda: the functions loaded with the environment Lambda gives an actively traced
 * function (its X-Ray daemon address, the trace header of each invocation), the daemon played by a UDP socket on
 * 127.0.0.1 that keeps the subsegments the X-Ray SDK sends. A task's trace: the API's invocation (its DynamoDB and SQS
 * calls), the trace header on the task's message, the agent's invocation under the header Lambda hands it, with a
 * subsegment for the task annotated with its id.
 */
const ADMIN = "tracing-admin-key-0123456789-0123456789";
const API_TRACE = "Root=1-6759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
const AGENT_TRACE = "Root=1-6759e989-0123456789abcdef01234567;Parent=1a2b3c4d5e6f7a8b;Sampled=1";

let env: Awaited<ReturnType<typeof startTestContext>>;
let daemon: Socket;
let output: ReturnType<typeof captureOutput>;
const sent: Array<Record<string, unknown>> = [];
let api: (event: APIGatewayProxyEventV2, context: LambdaContext) => Promise<{ statusCode: number; body: string }>;
let agent: (event: ReturnType<typeof sqsEvent>, context: LambdaContext) => Promise<SQSBatchResponse>;

beforeAll(async () => {
  output = captureOutput();
  daemon = createSocket("udp4");
  daemon.on("message", (datagram) => {
    // `{"format":"json","version":1}\n{…segment…}`
    const [, body] = datagram.toString("utf8").split("\n");
    if (body) sent.push(JSON.parse(body));
  });
  await new Promise<void>((resolve) => daemon.bind(0, "127.0.0.1", resolve));
  const { port } = daemon.address() as AddressInfo;
  env = await startFunctionContext(
    { prefix: "nexus-tracing-agent-", secrets: { "nexus/test/admin-key": ADMIN } },
    {
      POWERTOOLS_LOG_LEVEL: "SILENT",
      // What Lambda sets for an actively traced function.
      AWS_EXECUTION_ENV: "AWS_Lambda_nodejs24.x",
      LAMBDA_TASK_ROOT: "/var/task",
      AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${port}`,
      AWS_XRAY_CONTEXT_MISSING: "IGNORE_ERROR",
    },
  );
  api = (await import("../functions/api.js")).handler as unknown as typeof api;
  agent = (await import("../functions/agents/diag.js")).handler;
});
afterAll(async () => {
  for (const name of ["AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "AWS_XRAY_DAEMON_ADDRESS", "_X_AMZN_TRACE_ID"]) {
    delete process.env[name];
  }
  daemon?.close();
  await env?.stop();
  output?.restore();
});

const traceId = (header: string) => header.slice("Root=".length, header.indexOf(";"));

/** Waits until the daemon has received what `done` looks for. */
async function received(done: (segments: typeof sent) => boolean) {
  const until = Date.now() + 5_000;
  while (!done(sent) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  return sent;
}

describe("a task's trace", () => {
  it("spans the API's invocation, the message (AWSTraceHeader) and the agent's invocation, the task annotated", async () => {
    process.env._X_AMZN_TRACE_ID = API_TRACE;
    const res = await api(
      apiGatewayEvent("POST", "/v1/tasks", { agentId: "diag", action: "echo", params: { traced: true } }, ADMIN),
      lambdaContext(),
    );
    expect(res.statusCode).toBe(202);
    const task = JSON.parse(res.body) as { id: string };

    // The API's invocation: its handler subsegment, and its calls to DynamoDB and SQS, in the request's trace.
    const apiSegments = await received(
      (s) => s.some((x) => x.name === "SQS") && s.some((x) => x.name === "## handler"),
    );
    const inApiTrace = apiSegments.filter((s) => s.trace_id === traceId(API_TRACE));
    // Secrets Manager's client is made on first use (the bootstrap key), and traced all the same.
    expect(inApiTrace.map((s) => s.name)).toEqual(
      expect.arrayContaining(["## handler", "DynamoDB", "SQS", "SecretsManager"]),
    );
    const handler = inApiTrace.find((s) => s.name === "## handler");
    expect(handler?.annotations).toMatchObject({ ColdStart: expect.any(Boolean), Service: "nexus-api" });

    // The message carries the trace on to the agent.
    const out = await env.ctx.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: env.ctx.builtinQueues.diag?.url,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ["AWSTraceHeader"],
        // The local SQS reads only the older name of the same list.
        AttributeNames: ["All"],
      }),
    );
    const [message] = out.Messages ?? [];
    expect(message?.Attributes?.AWSTraceHeader).toBe(API_TRACE);

    // The agent's invocation, under the header Lambda gives it: the task's own subsegment, annotated with its id.
    process.env._X_AMZN_TRACE_ID = AGENT_TRACE;
    sent.length = 0;
    expect(await agent(sqsEvent(sqsRecordFactory(message?.Body ?? "")), lambdaContext())).toEqual({
      batchItemFailures: [],
    });
    // The handler's subsegment is sent when the invocation ends, after the task's: wait for both.
    const agentSegments = await received(
      (s) => s.some((x) => x.name === `## task ${task.id}`) && s.some((x) => x.name === "## handler"),
    );
    const span = agentSegments.find((s) => s.name === `## task ${task.id}`);
    expect(span).toMatchObject({ trace_id: traceId(AGENT_TRACE), annotations: { taskId: task.id, agentId: "diag" } });
    expect(agentSegments.filter((s) => s.trace_id === traceId(AGENT_TRACE)).map((s) => s.name)).toEqual(
      expect.arrayContaining(["## handler", "DynamoDB"]),
    );
  });
});

describe("the X-Ray subsegments a function sends (xray.ts)", () => {
  const SAMPLED = "Root=1-6759e990-00112233445566778899aabb;Parent=0123456789abcdef;Sampled=1";

  /**
   * Runs `fn` in a sampled invocation with outgoing HTTP captured, against a loopback server that answers 404 at
   * `/missing` (200 elsewhere) and keeps the trace header of each request it gets; stopped after.
   */
  async function withServer(fn: (port: number, seen: Array<string | undefined>) => Promise<void>) {
    const { captureHttp } = await import("../packages/core/src/xray.js");
    const seen: Array<string | undefined> = [];
    const server = createServer((req, res) => {
      seen.push(req.headers["x-amzn-trace-id"] as string | undefined);
      res.statusCode = req.url === "/missing" ? 404 : 200;
      res.end("ok");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      captureHttp();
      process.env._X_AMZN_TRACE_ID = SAMPLED;
      sent.length = 0;
      await fn((server.address() as AddressInfo).port, seen);
    } finally {
      server.close();
    }
  }

  it("records outgoing HTTP requests (fetch and node:http) with their status, the header passed on only where asked", async () => {
    const { traceInvocation } = await import("../packages/core/src/xray.js");
    const { propagateTrace } = await import("../packages/core/src/trace.js");
    await withServer(async (port, seen) => {
      await traceInvocation("## outgoing", {}, async () => {
        await propagateTrace(async () => (await fetch(`http://127.0.0.1:${port}/ok?secret=1`)).text());
        await new Promise<void>((resolve, reject) =>
          httpGet(`http://127.0.0.1:${port}/missing`, (res) => res.resume().on("end", resolve)).on("error", reject),
        );
        // A third party's (a chat webhook, an LLM provider): recorded, not handed the trace id.
        await (await fetch(`http://127.0.0.1:${port}/elsewhere`)).text();
      });
      const segments = await received((s) => s.some((x) => x.name === "## outgoing"));
      const parent = segments.find((s) => s.name === "## outgoing");
      const remote = segments.filter((s) => s.namespace === "remote");
      expect(remote.map((s) => s.http)).toEqual([
        { request: { url: `http://127.0.0.1:${port}/ok`, method: "GET" }, response: { status: 200 } },
        { request: { url: `http://127.0.0.1:${port}/missing`, method: "GET" }, response: { status: 404 } },
        { request: { url: `http://127.0.0.1:${port}/elsewhere`, method: "GET" }, response: { status: 200 } },
      ]);
      expect(remote.map((s) => [s.parent_id, s.trace_id, s.error])).toEqual([
        [parent?.id, "1-6759e990-00112233445566778899aabb", undefined],
        [parent?.id, "1-6759e990-00112233445566778899aabb", true],
        [parent?.id, "1-6759e990-00112233445566778899aabb", undefined],
      ]);
      expect(seen).toEqual([
        `Root=1-6759e990-00112233445566778899aabb;Parent=${remote[0]?.id};Sampled=1`,
        undefined,
        undefined,
      ]);
    });
  });

  it("passes the trace header on to the allow-listed hosts the ops agent checks", async () => {
    const { traceInvocation } = await import("../packages/core/src/xray.js");
    const { httpCheck } = await import("../packages/agents/src/ops/http-check.js");
    await withServer(async (port, seen) => {
      const result = await traceInvocation("## ops check", {}, () =>
        httpCheck(
          { url: `http://127.0.0.1:${port}/health`, method: "GET", followRedirects: false },
          { allow: [{ host: "127.0.0.1", port }], defaultTimeoutMs: 5_000 },
        ),
      );
      expect(result.status).toBe(200);
      const segments = await received((s) => s.some((x) => x.name === "## ops check"));
      const check = segments.find((s) => s.namespace === "remote");
      expect(check?.http).toEqual({
        request: { url: `http://127.0.0.1:${port}/health`, method: "GET" },
        response: { status: 200 },
      });
      expect(seen).toEqual([`Root=1-6759e990-00112233445566778899aabb;Parent=${check?.id};Sampled=1`]);
    });
  });

  it("records a failed invocation as a fault with its cause, and sends nothing for an unsampled one", async () => {
    const { traceInvocation } = await import("../packages/core/src/xray.js");
    process.env._X_AMZN_TRACE_ID = SAMPLED;
    sent.length = 0;
    await expect(
      traceInvocation("## failing", {}, async () => {
        throw new TypeError("boom");
      }),
    ).rejects.toThrow("boom");
    const [failed] = (await received((s) => s.some((x) => x.name === "## failing"))).filter(
      (s) => s.name === "## failing",
    );
    expect(failed).toMatchObject({
      parent_id: "0123456789abcdef",
      fault: true,
      cause: { exceptions: [{ message: "boom", type: "TypeError" }] },
    });

    process.env._X_AMZN_TRACE_ID = SAMPLED.replace("Sampled=1", "Sampled=0");
    sent.length = 0;
    await traceInvocation("## unsampled", {}, async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
    });
    process.env._X_AMZN_TRACE_ID = SAMPLED;
    await traceInvocation("## sampled", {}, async () => {});
    const after = await received((s) => s.some((x) => x.name === "## sampled"));
    expect(after.map((s) => s.name)).toEqual(["## sampled"]);
  });
});
