import { DeleteMessageCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { createLogger } from "@nexus/core";
import * as Plans from "@nexus/core/plans";
import { type LocalStepFunctions, startStepFunctions } from "@nexus/local";
import type { APIGatewayProxyEventV2, Context as LambdaContext, SQSBatchResponse } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestContext } from "./support/context.js";
import { apiGatewayEvent, lambdaContext, sqsEvent, sqsRecordFactory } from "./support/events.js";

/**
 * The Lambda entry points, loaded the way Lambda loads them (configuration from the environment the stack
 * sets), fed hand-built API Gateway and SQS events, against the emulators.
 */
let env: Awaited<ReturnType<typeof startTestContext>>;
let api: (
  event: APIGatewayProxyEventV2,
  context: LambdaContext,
) => Promise<{ statusCode: number; body: string; headers?: Record<string, string> }>;
let agent: (event: ReturnType<typeof sqsEvent>, context: LambdaContext) => Promise<SQSBatchResponse>;
let sweeper: (
  event?: unknown,
  context?: LambdaContext,
) => Promise<{ scanned: number; requeued: number; failed: number; backlogged: number; complete: boolean }>;
let plans: (payload: Record<string, unknown>) => Promise<unknown>;
let probe: (event?: unknown) => Promise<{ submitted: Array<{ agentId: string }>; failed: unknown[] }>;
let sfn: LocalStepFunctions;

const ADMIN = "lambda-admin-key-0123456789-0123456789";

const httpEvent = (method: string, path: string, body?: unknown) => apiGatewayEvent(method, path, body, ADMIN);

beforeAll(async () => {
  env = await startTestContext({ prefix: "nexus-lambda-agent-", secrets: { "nexus/test/admin-key": ADMIN } });
  await env.addBuiltinQueue("diag");
  // Step Functions plays its part through its API; its Lambda tasks invoke the plan runner's entry point.
  sfn = await startStepFunctions({
    definition: Plans.planDefinition({ PlanRunnerArn: "arn:aws:lambda:us-east-1:123456789012:function:plans" }),
    stateMachineName: "nexus-lambda-plans",
    logger: createLogger("nexus-test", { level: "SILENT" }),
    invoke: (payload) => plans(payload),
  });
  Object.assign(
    process.env,
    env.functionEnv({
      AWS_ENDPOINT_URL_SFN: sfn.endpoint,
      NEXUS_STATE_MACHINE_ARN: sfn.stateMachineArn,
      NEXUS_ADMIN_KEY_SECRET: "nexus/test/admin-key",
      NEXUS_AGENT_ID: "diag",
      POWERTOOLS_LOG_LEVEL: "SILENT",
    }),
  );
  api = (await import("../functions/api.js")).handler as unknown as typeof api;
  agent = (await import("../functions/agents/diag.js")).handler;
  sweeper = (await import("../functions/sweeper.js")).handler;
  plans = (await import("../functions/plans.js")).handler;
  probe = (await import("../functions/probe.js")).handler;
});
afterAll(async () => {
  await sfn?.stop();
  await env?.stop();
});

async function receiveAll(queueUrl: string) {
  const out = await env.ctx.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
  );
  return out.Messages ?? [];
}

describe("Lambda entry points", () => {
  it("serves the API through API Gateway v2 events, registering diag on first use", async () => {
    const health = await api(httpEvent("GET", "/v1/health"), lambdaContext());
    expect(health.statusCode).toBe(200);
    expect(JSON.parse(health.body).status).toBe("ok");
    const agents = await api(httpEvent("GET", "/v1/agents?limit=10"), lambdaContext());
    expect(JSON.parse(agents.body).items.map((a: { id: string }) => a.id)).toContain("diag");
    const bad = await api(
      httpEvent("POST", "/v1/tasks", { agentId: "diag", action: "sleep", params: { ms: -5 } }),
      lambdaContext(),
    );
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body).error.details[0].path).toBe("params.ms");
  });

  it("answers with Strict-Transport-Security and the other security headers (API Gateway is HTTPS only)", async () => {
    for (const path of ["/v1/health", "/v1/agents?limit=1", "/v1/tasks/nope"]) {
      const res = await api(httpEvent("GET", path), lambdaContext());
      expect(res.headers, path).toMatchObject({
        "strict-transport-security": "max-age=31536000",
        "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
      });
    }
  });

  it("behind API Gateway, refuses to stream the change feed (501) and serves it to polling", async () => {
    const stream = await api(httpEvent("GET", "/v1/events/stream"), lambdaContext());
    expect(stream.statusCode).toBe(501);
    expect(JSON.parse(stream.body).error.code).toBe("streaming_unavailable");
    const page = await api(httpEvent("GET", "/v1/events?limit=5"), lambdaContext());
    expect(page.statusCode).toBe(200);
    expect(JSON.parse(page.body).nextCursor).toEqual(expect.any(String));
  });

  it("plans a goal with the strategy agent's planner, loaded with the first goal", async () => {
    const res = await api(httpEvent("POST", "/v1/plans", { goal: "make the coffee" }), lambdaContext());
    expect(res.statusCode).toBe(422);
    expect(JSON.parse(res.body).error).toMatchObject({
      code: "cannot_plan",
      message: expect.stringContaining("no rule understands the goal"),
    });
  });

  it("records the client's address as API Gateway saw it, never X-Forwarded-For's", async () => {
    const from = (event: APIGatewayProxyEventV2, sourceIp: string, headers: Record<string, string>) => {
      event.requestContext.http.sourceIp = sourceIp;
      Object.assign(event.headers, headers, { "x-forwarded-for": "203.0.113.9, 10.1.2.3" });
      return event;
    };
    const refused = from(httpEvent("POST", "/v1/agents/diag/deactivate"), "198.51.100.23", {
      authorization: "Bearer nxk_bogus_key",
    });
    expect((await api(refused, lambdaContext())).statusCode).toBe(401);
    const created = from(httpEvent("POST", "/v1/keys", { name: "lambda-audit", role: "viewer" }), "198.51.100.24", {});
    const key = JSON.parse((await api(created, lambdaContext())).body);
    const audit = JSON.parse((await api(httpEvent("GET", "/v1/audit?limit=100"), lambdaContext())).body).items;
    expect(audit.find((r: { status: number }) => r.status === 401)).toMatchObject({
      sourceIp: "198.51.100.23",
      path: "/v1/agents/diag/deactivate",
      count: 1,
    });
    expect(audit.find((r: { targetId: string }) => r.targetId === key.id)).toMatchObject({
      sourceIp: "198.51.100.24",
      status: 201,
      count: 1,
    });
  });

  it("runs a submitted task when its queue message is handed to the agent function", async () => {
    const submitted = await api(
      httpEvent("POST", "/v1/tasks", { agentId: "diag", action: "echo", params: { x: 1 } }),
      lambdaContext(),
    );
    expect(submitted.statusCode).toBe(202);
    const task = JSON.parse(submitted.body);
    const messages = await receiveAll(env.ctx.builtinQueues.diag?.url ?? "");
    const mine = messages.find((m) => JSON.parse(m.Body ?? "{}").taskId === task.id);
    expect(mine).toBeDefined();
    const response = await agent(
      sqsEvent(sqsRecordFactory(mine?.Body ?? "", { messageId: mine?.MessageId ?? "m1" })),
      lambdaContext(),
    );
    expect(response.batchItemFailures).toEqual([]);
    await env.ctx.sqs.send(
      new DeleteMessageCommand({ QueueUrl: env.ctx.builtinQueues.diag?.url, ReceiptHandle: mine?.ReceiptHandle }),
    );
    const after = JSON.parse((await api(httpEvent("GET", `/v1/tasks/${task.id}`), lambdaContext())).body);
    expect(after).toMatchObject({ status: "succeeded", result: { x: 1 }, attempts: 1 });

    // delivered again (at least once): acknowledged, not run again
    const again = await agent(sqsEvent(sqsRecordFactory(mine?.Body ?? "")), lambdaContext());
    expect(again.batchItemFailures).toEqual([]);
    const still = JSON.parse((await api(httpEvent("GET", `/v1/tasks/${task.id}`), lambdaContext())).body);
    expect(still.attempts).toBe(1);
    expect(still.updatedAt).toBe(after.updatedAt);
  });

  it("drops malformed messages instead of failing the batch forever", async () => {
    const response = await agent(
      sqsEvent(
        sqsRecordFactory("not json"),
        sqsRecordFactory({ nope: true }),
        sqsRecordFactory({ taskId: "tsk_unknown" }),
      ),
      lambdaContext(),
    );
    expect(response.batchItemFailures).toEqual([]);
  });

  it("runs the sweeper on its schedule's event", async () => {
    const result = await sweeper();
    expect(result).toEqual({
      scanned: expect.any(Number),
      requeued: 0,
      failed: 0,
      backlogged: expect.any(Number),
      complete: true,
    });
  });

  it("leaves the sweeper's last 45 s to plans and agents: with less left, it reads no tasks", async () => {
    const result = await sweeper({}, lambdaContext(40_000));
    expect(result).toEqual({ scanned: 0, requeued: 0, failed: 0, backlogged: 0, complete: false });
  });

  it("runs a plan: API → state machine → plan runner function → agent function → task token → next step", async () => {
    const created = await api(
      httpEvent("POST", "/v1/plans", {
        steps: [
          { id: "one", agentId: "diag", action: "echo", params: { word: "relay" } },
          {
            id: "two",
            agentId: "diag",
            action: "echo",
            params: { got: "{{steps.one.result.word}}" },
            dependsOn: ["one"],
          },
        ],
      }),
      lambdaContext(),
    );
    expect(created.statusCode).toBe(201);
    const plan = JSON.parse(created.body);
    expect(plan.executionArn).toContain("nexus-lambda-plans");
    const queueUrl = env.ctx.builtinQueues.diag?.url ?? "";
    // Play Lambda's event source mapping: hand each step's message to the agent function.
    for (const stepId of ["one", "two"]) {
      let delivered = false;
      for (let i = 0; i < 20 && !delivered; i++) {
        for (const message of await receiveAll(queueUrl)) {
          const response = await agent(sqsEvent(sqsRecordFactory(message.Body ?? "")), lambdaContext());
          expect(response.batchItemFailures).toEqual([]);
          await env.ctx.sqs.send(
            new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
          );
          delivered = true;
        }
      }
      expect(delivered, stepId).toBe(true);
    }
    await sfn.settled(plan.executionArn);
    const done = JSON.parse((await api(httpEvent("GET", `/v1/plans/${plan.id}`), lambdaContext())).body);
    expect(done.status).toBe("succeeded");
    expect(done.steps[1].result).toEqual({ got: "relay" });
  });

  it("runs the probe on its schedule's event: the deployed built-ins registered, a health task for each", async () => {
    const result = await probe();
    expect(result.failed).toEqual([]);
    expect(result.submitted.map((s) => s.agentId)).toContain("diag");
  });
});
