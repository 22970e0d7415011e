import { once } from "node:events";
import { createServer } from "node:net";
import { ProvisionedThroughputExceededException } from "@aws-sdk/client-dynamodb";
import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { builtinSpecs } from "@nexus/agents/specs";
import { createApp } from "@nexus/api";
import { type Context, createClients, createLogger } from "@nexus/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Json } from "./support/client.js";
import { startTestContext } from "./support/context.js";

let env: Awaited<ReturnType<typeof startTestContext>>;
let app: ReturnType<typeof createApp>;
const logger = createLogger("nexus-test", { level: "SILENT" });

const ADMIN = "test-admin-key-0123456789-0123456789";
const auth = { headers: { authorization: `Bearer ${ADMIN}` } };

beforeAll(async () => {
  env = await startTestContext({ secrets: { "nexus/admin": ADMIN }, settings: { adminKeySecret: "nexus/admin" } });
  await env.addBuiltinQueue("diag");
  app = createApp({ ctx: env.ctx, logger, builtinSpecs });
});
afterAll(async () => {
  await env?.stop();
});

describe("API documents itself", () => {
  it("serves an OpenAPI 3.1 document generated from the schemas", async () => {
    const res = await app.request("/openapi.json");
    expect(res.status).toBe(200);
    const doc: Json = await res.json();
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/v1/health", "/v1/agents", "/v1/agents/{id}", "/v1/tasks", "/v1/tasks/{id}"]),
    );
    expect(Object.keys(doc.paths["/v1/tasks"])).toEqual(expect.arrayContaining(["get", "post"]));
    const submit = doc.components.schemas.SubmitTaskInput;
    expect(submit.required).toEqual(expect.arrayContaining(["agentId", "action"]));
    expect(submit.additionalProperties).toBe(false);
    expect(doc.components.schemas.Task.properties.status.enum).toEqual([
      "queued",
      "running",
      "succeeded",
      "failed",
      "cancelled",
    ]);
    expect(doc.components.schemas.ParamsSchema).toBeDefined();
  });

  it("serves interactive docs pointing at the document, every file from its own origin", async () => {
    const res = await app.request("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).not.toMatch(/https?:\/\//);
    const scripts = [...html.matchAll(/src="([^"]+)"/g)].map((m) => m[1] as string);
    const bodies = await Promise.all(scripts.map(async (src) => (await app.request(src)).text()));
    expect(bodies.some((body) => body.includes("SwaggerUIBundle"))).toBe(true);
    expect(bodies.some((body) => body.includes("/openapi.json"))).toBe(true);
  });
});

describe("errors the client did not cause", () => {
  it("become a generic 500 with a request id, no stack trace and no internal message", async () => {
    const broken: Context = {
      ...env.ctx,
      ddb: {
        send: () =>
          Promise.reject(new TypeError("Cannot read properties of undefined (reading 'PK') secret-table-name")),
      } as unknown as Context["ddb"],
    };
    const brokenApp = createApp({ ctx: broken, logger, builtinSpecs: [] });
    const res = await brokenApp.request("/v1/tasks/tsk_1", auth);
    expect(res.status).toBe(500);
    const body: Json = await res.json();
    expect(body.error.code).toBe("internal_error");
    expect(JSON.stringify(body)).not.toMatch(/TypeError|reading 'PK'|secret-table-name|\.ts:\d+/);
    expect(body.error.requestId).toBe(res.headers.get("x-request-id"));
  });

  it("include a query DynamoDB refuses, unless what it refuses is the client's cursor (a 400)", async () => {
    const refusing: Context = {
      ...env.ctx,
      ddb: {
        send: (command: QueryCommand) => {
          if (!(command instanceof QueryCommand)) return env.ctx.ddb.send(command);
          const error = new Error("The provided starting key is invalid");
          error.name = "ValidationException";
          return Promise.reject(error);
        },
      } as unknown as Context["ddb"],
    };
    const refusingApp = createApp({ ctx: refusing, logger, builtinSpecs: [] });
    const first = await refusingApp.request("/v1/keys?limit=1", auth);
    expect(first.status).toBe(500);
    const cursor = Buffer.from(
      JSON.stringify({ s: "GSI1:KEYS", k: { PK: "KEY#k", SK: "KEY", GSI1PK: "KEYS", GSI1SK: "k" } }),
    ).toString("base64url");
    const next = await refusingApp.request(`/v1/keys?limit=1&cursor=${cursor}`, auth);
    expect(next.status).toBe(400);
    const body: Json = await next.json();
    expect(body.error).toMatchObject({ code: "validation_error", details: { field: "cursor" } });
  });

  it("become a 503 to retry after Retry-After when DynamoDB cannot be reached (a real refused connection)", async () => {
    // A loopback port nothing listens on: the SDK's own retries fail, and the error is the one AWS would surface.
    const server = createServer().listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as { port: number };
    server.close();
    await once(server, "close");
    const { ddb } = createClients({
      region: "us-east-1",
      dynamodbEndpoint: `http://127.0.0.1:${port}`,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
    });
    const unreachableApp = createApp({ ctx: { ...env.ctx, ddb }, logger, builtinSpecs: [] });
    const res = await unreachableApp.request("/v1/tasks/tsk_1", auth);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    const body: Json = await res.json();
    expect(body.error.code).toBe("service_unavailable");
    expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|\.ts:\d+/);
    expect(body.error.requestId).toBe(res.headers.get("x-request-id"));
  });

  it("become a 503 when DynamoDB throttles (a fault the emulator cannot produce), and store nothing", async () => {
    const throttled = new ProvisionedThroughputExceededException({
      message: "The level of configured provisioned throughput for the table was exceeded",
      $metadata: { httpStatusCode: 400 },
    });
    const throttling: Context = {
      ...env.ctx,
      ddb: {
        send: (command: { constructor: { name: string } }) =>
          command.constructor.name === "BatchWriteCommand" || command.constructor.name === "PutCommand"
            ? Promise.reject(throttled)
            : env.ctx.ddb.send(command as never),
      } as unknown as Context["ddb"],
    };
    const throttlingApp = createApp({ ctx: throttling, logger, builtinSpecs });
    const before: Json = await (await app.request("/v1/tasks?agentId=diag&limit=100", auth)).json();
    const res = await throttlingApp.request("/v1/tasks", {
      method: "POST",
      headers: { ...auth.headers, "content-type": "application/json" },
      body: JSON.stringify({ agentId: "diag", action: "echo", params: { text: "throttled" } }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(((await res.json()) as Json).error.code).toBe("service_unavailable");
    const after: Json = await (await app.request("/v1/tasks?agentId=diag&limit=100", auth)).json();
    expect(after.items.length).toBe(before.items.length);
  });

  it("keeps a caller's well-formed request id, for tracing across systems", async () => {
    const res = await app.request("/v1/health", { headers: { "X-Request-Id": "trace-abc-123" } });
    expect(res.headers.get("x-request-id")).toBe("trace-abc-123");
  });
});
